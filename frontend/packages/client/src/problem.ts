/** RFC 9457 problem+json answers of the BFF and the core, as typed errors. */

/** The codes with which the BFF says the browser's session is gone: the app returns to /login. */
export const SESSION_ENDED_CODES = [
  "no_session",
  "session_idle_expired",
  "session_expired",
  "session_revoked",
  "session_password_changed",
] as const;

export type SessionEndedCode = (typeof SESSION_ENDED_CODES)[number];

export function isSessionEndedCode(code: string): code is SessionEndedCode {
  return (SESSION_ENDED_CODES as readonly string[]).includes(code);
}

/** A failed call: the HTTP status, the problem's stable `code`, and a human-readable detail. */
export class ProblemError extends Error {
  override readonly name = "ProblemError";
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** Seconds from `Retry-After`, when the answer carried one (429, 503). */
  readonly retryAfter: number | undefined;
  /** The answer's other members, e.g. a failed login's `attempts_remaining` and `lockout_seconds`. */
  readonly fields: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    code: string,
    detail: string,
    retryAfter?: number,
    fields: Readonly<Record<string, unknown>> = {},
  ) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
    this.fields = fields;
  }

  /** A whole number member of the answer (`attempts_remaining`, `lockout_seconds`), else undefined. */
  count(name: string): number | undefined {
    const value = this.fields[name];
    return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
  }

  /** Whether this answer means the session is over (the app must sign in again). */
  get endsSession(): boolean {
    return isSessionEndedCode(this.code);
  }
}

/**
 * The code of the error a call fails with when the user cancelled the re-authentication dialog it opened
 * (`reauth_required`, then Cancel). Nothing went wrong: apps show no error for it (see `isReauthCancelled`).
 */
export const REAUTH_CANCELLED = "reauth_cancelled";

/** The error a call that needed a recent sign-in fails with once the user cancelled the dialog. */
export function reauthCancelled(status = 403): ProblemError {
  return new ProblemError(status, REAUTH_CANCELLED, "The action was cancelled: it needs your password again.");
}

/** Whether `error` means the user cancelled the re-authentication dialog (show no error message for it). */
export function isReauthCancelled(error: unknown): boolean {
  return error instanceof ProblemError && error.code === REAUTH_CANCELLED;
}

/** The error a failed `fetch` (no answer at all) becomes. */
export function networkError(cause: unknown): ProblemError {
  const error = new ProblemError(0, "network_error", "The server could not be reached. Try again.");
  error.cause = cause;
  return error;
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Build a `ProblemError` from a parsed body (problem+json, or RFC 6749 `error` JSON, or anything). */
export function problemFromBody(status: number, body: unknown, retryAfter?: number): ProblemError {
  const record = asRecord(body);
  const code = text(record?.code) ?? text(record?.error) ?? `http_${status}`;
  const detail =
    text(record?.detail) ?? text(record?.error_description) ?? text(record?.title) ?? `Request failed (${status}).`;
  return new ProblemError(status, code, detail, retryAfter, record ?? {});
}

function parseRetryAfter(response: Response): number | undefined {
  const raw = response.headers.get("Retry-After");
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** Read a failed response's body (JSON if it is JSON) into a `ProblemError`. */
export async function problemFromResponse(response: Response): Promise<ProblemError> {
  const type = response.headers.get("Content-Type") ?? "";
  let body: unknown = null;
  if (/^application\/(problem\+)?json/i.test(type)) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  return problemFromBody(response.status, body, parseRetryAfter(response));
}
