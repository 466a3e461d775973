/**
 * When a token expires, in words: "Expires today", "Expires tomorrow", "Expires in 5 days", "Expired",
 * counted in calendar days of the user's time zone; and the date a new token's expiry field previews.
 */

/** Within this many days an expiry is shown as a warning. */
export const EXPIRY_WARNING_DAYS = 7;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface ExpiryStatus {
  /** "Expired", "Expires today", "Expires tomorrow", "Expires in 12 days". */
  label: string;
  /** Expired, or expiring within `EXPIRY_WARNING_DAYS`: shown in the warning style. */
  warning: boolean;
  expired: boolean;
}

/** Local midnight of `date`'s day. */
function startOfDay(date: Date): number {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Calendar days from `now`'s day to `then`'s day (0 = the same day), whatever the hours. */
export function calendarDaysBetween(now: Date, then: Date): number {
  // Math.round absorbs a daylight-saving day of 23 or 25 hours.
  return Math.round((startOfDay(then) - startOfDay(now)) / DAY_MS);
}

export function expiryStatus(expiresAt: string, now: Date = new Date()): ExpiryStatus {
  const then = new Date(expiresAt);
  if (Number.isNaN(then.getTime())) return { label: "", warning: false, expired: false };
  if (then.getTime() <= now.getTime()) return { label: "Expired", warning: true, expired: true };
  const days = calendarDaysBetween(now, then);
  const label = days <= 0 ? "Expires today" : days === 1 ? "Expires tomorrow" : `Expires in ${days} days`;
  return { label, warning: days <= EXPIRY_WARNING_DAYS, expired: false };
}

/** When a token made now with `days` of life expires (the core adds whole days of 24 hours), or null
 * while the field holds no valid number. */
export function expiryFrom(days: string, now: Date = new Date(), maxDays = 366): Date | null {
  if (!/^\d+$/.test(days.trim())) return null;
  const count = Number(days);
  if (count < 1 || count > maxDays) return null;
  return new Date(now.getTime() + count * DAY_MS);
}

/** "12 Jan 2027" (in the user's locale's order and month names). */
export function formatExpiryDate(date: Date, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric" }).format(date);
}
