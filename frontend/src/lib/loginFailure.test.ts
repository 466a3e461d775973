import { ProblemError } from "@latchkey/client";
import { describe, expect, it } from "vitest";
import { loginFailure } from "./loginFailure";

const NOW = 1_000_000;

function problem(status: number, code: string, fields: Record<string, unknown> = {}, retryAfter?: number) {
  return new ProblemError(status, code, "", retryAfter, { code, ...fields });
}

describe("loginFailure", () => {
  it("a wrong password with attempts to spare says only that", () => {
    expect(loginFailure(problem(401, "invalid_credentials", { attempts_remaining: 4 }), NOW)).toEqual({
      message: "Wrong email or password.",
      warning: null,
      lockedUntil: null,
    });
  });

  it("warns when two or one attempts remain", () => {
    expect(loginFailure(problem(401, "invalid_credentials", { attempts_remaining: 1 }), NOW).warning).toBe(
      "1 attempt left before a 15-minute lockout.",
    );
  });

  it("the failure that starts the lockout counts down from its length", () => {
    const failure = loginFailure(problem(401, "invalid_credentials", { attempts_remaining: 0, lockout_seconds: 900 }), NOW);
    expect(failure.message).toContain("Too many failed attempts");
    expect(failure.lockedUntil).toBe(NOW + 900_000);
  });

  it("a 429 counts down from lockout_seconds, else from Retry-After, else has no end to show", () => {
    expect(loginFailure(problem(429, "rate_limited", { lockout_seconds: 60 }, 61), NOW).lockedUntil).toBe(NOW + 60_000);
    expect(loginFailure(problem(429, "rate_limited", {}, 30), NOW).lockedUntil).toBe(NOW + 30_000);
    const open = loginFailure(problem(429, "rate_limited"), NOW);
    expect(open.lockedUntil).toBeNull();
    expect(open.message).toContain("Too many failed attempts");
  });

  it("anything else is described as any failed call", () => {
    expect(loginFailure(problem(503, "service_unavailable"), NOW).message).toBe("The service is busy. Try again in a moment.");
    expect(loginFailure(new Error("boom"), NOW)).toEqual({ message: "Something went wrong.", warning: null, lockedUntil: null });
  });
});
