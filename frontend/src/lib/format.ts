/** Display helpers: dates in the user's locale, byte sizes, a short description of a user agent. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateOnly.format(date);
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit] ?? "TiB"}`;
}

/** "Chrome 131 on Linux" from a User-Agent header; the raw string when nothing is recognised. */
export function describeUserAgent(userAgent: string): string {
  if (!userAgent) return "Unknown device";
  const browsers: [RegExp, string][] = [
    [/Edg\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/HeadlessChrome\/(\d+)/, "Headless Chrome"],
    [/Chrom(?:e|ium)\/(\d+)/, "Chrome"],
    [/Version\/(\d+)[\d.]* .*Safari\//, "Safari"],
    [/curl\/([\d.]+)/, "curl"],
  ];
  const systems: [RegExp, string][] = [
    [/Android/, "Android"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Mac OS X|Macintosh/, "macOS"],
    [/Windows/, "Windows"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];
  const browser = browsers.find(([pattern]) => pattern.test(userAgent));
  const system = systems.find(([pattern]) => pattern.test(userAgent));
  if (!browser) return system ? `Unknown browser on ${system[1]}` : userAgent;
  const version = browser[0].exec(userAgent)?.[1];
  const name = version ? `${browser[1]} ${version}` : browser[1];
  return system ? `${name} on ${system[1]}` : name;
}

/** The message a person sees for a failed call. */
export function describeError(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && "detail" in error) {
    const { code, detail } = error as { code: string; detail: string };
    switch (code) {
      case "network_error":
        return "The server could not be reached. Check your connection and try again.";
      case "upstream_unavailable":
      case "upstream_timeout":
        return "The service is not answering right now. Try again in a moment.";
      case "rate_limited":
        return "Too many attempts. Wait a little and try again.";
      case "reauth_required":
        return "This needs your password: confirm it to continue.";
      case "csrf_failed":
        return "The request was refused for security reasons. Reload the page and try again.";
      case "payload_too_large":
        return "The file is too large.";
      default:
        return detail ? detail.charAt(0).toUpperCase() + detail.slice(1) : "Something went wrong.";
    }
  }
  return "Something went wrong.";
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const RELATIVE_STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["second", 60],
  ["minute", 60],
  ["hour", 24],
  ["day", 30],
  ["month", 12],
  ["year", Number.POSITIVE_INFINITY],
];

/** "3 minutes ago", "in 2 days", "now": a time relative to `now` (the absolute one belongs in a title). */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const time = new Date(iso).getTime();
  if (Number.isNaN(time)) return iso;
  let value = (time - now) / 1000;
  if (Math.abs(value) < 45) return "just now";
  for (const [unit, size] of RELATIVE_STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), "year");
}
