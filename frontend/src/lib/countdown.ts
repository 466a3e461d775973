/**
 * The login page's lockout: the sentences before it (attempts left) and during it (a live countdown).
 * The core locks an account out from one address after 5 failures within 15 minutes (SPEC §4).
 */
import { useEffect, useState } from "react";

/** How long the core's lockout lasts at most (its window), for the warning before it starts. */
export const LOCKOUT_MINUTES = 15;

/** "14:59", "0:05", or "1:02:03" past an hour: whole seconds left, rounded up, never negative. */
export function formatCountdown(seconds: number): string {
  const total = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** The warning after a failed attempt when few remain ("1 attempt left before a 15-minute lockout"), or
 * null while more than `warnAt` remain (or the answer did not say). */
export function attemptsWarning(remaining: number | undefined, warnAt = 2): string | null {
  if (remaining === undefined || remaining <= 0 || remaining > warnAt) return null;
  const attempts = remaining === 1 ? "1 attempt" : `${remaining} attempts`;
  return `${attempts} left before a ${LOCKOUT_MINUTES}-minute lockout.`;
}

/** Seconds left until `deadline` (a `Date.now()` time), or 0 once it passed (or with no deadline). */
export function secondsUntil(deadline: number | null, now: number): number {
  return deadline === null ? 0 : Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** Seconds left until `deadline`, re-rendered every second until it reaches 0. */
export function useCountdown(deadline: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (deadline === null) return;
    const tick = (): void => {
      const current = Date.now();
      setNow(current);
      if (current >= deadline) window.clearInterval(timer);
    };
    const first = window.setTimeout(tick, 0); // at once: `now` may be from long before the deadline was set
    const timer = window.setInterval(tick, 250);
    return () => {
      window.clearTimeout(first);
      window.clearInterval(timer);
    };
  }, [deadline]);
  return secondsUntil(deadline, now);
}
