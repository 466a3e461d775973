/** What the login page says after a failed sign-in (LoginPage.tsx), from the BFF's problem answer. */
import { ProblemError } from "@latchkey/client";
import { attemptsWarning } from "./countdown";
import { describeError } from "./format";

/** A failed sign-in as the page shows it: the sentence, a warning before the lockout, the lockout's end. */
export interface LoginFailure {
  message: string;
  /** "1 attempt left before a 15-minute lockout." when few remain. */
  warning: string | null;
  /** When the lockout ends (a `Date.now()` time): the button waits and the time counts down. */
  lockedUntil: number | null;
}

export function loginFailure(error: unknown, now: number = Date.now()): LoginFailure {
  if (error instanceof ProblemError) {
    const lockout = error.count("lockout_seconds") ?? error.retryAfter;
    if (error.code === "rate_limited" || error.status === 429 || (error.code === "invalid_credentials" && lockout)) {
      const message =
        error.code === "invalid_credentials"
          ? "Wrong email or password. Too many failed attempts: sign-in is locked for a while."
          : "Too many failed attempts: sign-in is locked for a while.";
      return { message, warning: null, lockedUntil: lockout ? now + lockout * 1000 : null };
    }
    if (error.code === "invalid_credentials") {
      return {
        message: "Wrong email or password.",
        warning: attemptsWarning(error.count("attempts_remaining")),
        lockedUntil: null,
      };
    }
    if (error.status === 503) {
      return { message: "The service is busy. Try again in a moment.", warning: null, lockedUntil: null };
    }
  }
  return { message: describeError(error), warning: null, lockedUntil: null };
}
