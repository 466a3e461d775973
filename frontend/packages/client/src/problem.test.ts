import { describe, expect, it } from "vitest";
import { isSessionEndedCode, ProblemError, problemFromBody, problemFromResponse } from "./problem.js";
import { problemResponse } from "./test-helpers.js";

describe("problemFromResponse", () => {
  it("reads status, code and detail from problem+json", async () => {
    const problem = await problemFromResponse(problemResponse(403, "csrf_failed", "X-CSRF header missing"));
    expect(problem).toBeInstanceOf(ProblemError);
    expect(problem).toMatchObject({ status: 403, code: "csrf_failed", detail: "X-CSRF header missing" });
    expect(problem.message).toBe("X-CSRF header missing");
    expect(problem.endsSession).toBe(false);
  });

  it("falls back to the title when there is no detail", async () => {
    const response = new Response(JSON.stringify({ title: "Not Found", status: 404, code: "not_found" }), {
      status: 404,
      headers: { "Content-Type": "application/problem+json" },
    });
    expect(await problemFromResponse(response)).toMatchObject({ code: "not_found", detail: "Not Found" });
  });

  it("understands RFC 6749 error bodies", async () => {
    const response = new Response(JSON.stringify({ error: "invalid_grant", error_description: "bad grant" }), {
      status: 400,
      headers: { "Content-Type": "application/json" },
    });
    expect(await problemFromResponse(response)).toMatchObject({ status: 400, code: "invalid_grant", detail: "bad grant" });
  });

  it("keeps the code when the body is not JSON or is broken JSON", async () => {
    const html = new Response("<h1>Bad gateway</h1>", { status: 502, headers: { "Content-Type": "text/html" } });
    expect(await problemFromResponse(html)).toMatchObject({ status: 502, code: "http_502" });
    const broken = new Response("{not json", { status: 500, headers: { "Content-Type": "application/problem+json" } });
    expect(await problemFromResponse(broken)).toMatchObject({ status: 500, code: "http_500" });
  });

  it("reads a numeric Retry-After", async () => {
    const problem = await problemFromResponse(problemResponse(429, "rate_limited", "slow down", { "Retry-After": "7" }));
    expect(problem.retryAfter).toBe(7);
    const dated = await problemFromResponse(
      problemResponse(503, "service_unavailable", "", { "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT" }),
    );
    expect(dated.retryAfter).toBeUndefined();
  });

  it("keeps the answer's other members: a failed login's attempts and lockout", () => {
    const problem = problemFromBody(401, { code: "invalid_credentials", attempts_remaining: 1, lockout_seconds: 900 });
    expect(problem.count("attempts_remaining")).toBe(1);
    expect(problem.count("lockout_seconds")).toBe(900);
    expect(problem.count("missing")).toBeUndefined();
    expect(problemFromBody(401, { attempts_remaining: "1" }).count("attempts_remaining")).toBeUndefined();
    expect(problemFromBody(401, { attempts_remaining: -1 }).count("attempts_remaining")).toBeUndefined();
    expect(problemFromBody(401, { attempts_remaining: 1.5 }).count("attempts_remaining")).toBeUndefined();
  });

  it("ignores fields of the wrong type", () => {
    expect(problemFromBody(401, { code: 42, detail: ["x"] })).toMatchObject({ code: "http_401" });
    expect(problemFromBody(401, null).detail).toContain("401");
  });
});

describe("session-ending codes", () => {
  it.each(["no_session", "session_idle_expired", "session_expired", "session_revoked", "session_password_changed"])(
    "%s ends the session", (code) => {
    expect(isSessionEndedCode(code)).toBe(true);
    expect(new ProblemError(401, code, "").endsSession).toBe(true);
  });

  it.each(["csrf_failed", "reauth_required", "invalid_credentials", "upstream_unavailable", "invalid_token"])(
    "%s does not",
    (code) => {
      expect(isSessionEndedCode(code)).toBe(false);
    },
  );
});
