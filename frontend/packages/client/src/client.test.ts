import { describe, expect, it, vi } from "vitest";
import { createApi } from "./api.js";
import { BffClient } from "./client.js";
import { isReauthCancelled, ProblemError, REAUTH_CANCELLED } from "./problem.js";
import { jsonResponse, problemResponse, stubFetch } from "./test-helpers.js";

const page = (items: unknown[] = []) => jsonResponse({ items, next_cursor: null });

describe("every call", () => {
  it("sends the session cookie and X-CSRF: 1, whatever the route", async () => {
    const { calls } = stubFetch((call) => {
      if (call.init.method === "DELETE" || call.url.includes("/logout") || call.url.includes("reauthenticate")) {
        return new Response(null, { status: 204 });
      }
      if (call.url.includes("/files/") && (call.init.method ?? "GET") === "GET") return new Response("bytes");
      if (/\/(projects|tokens|sessions|files)(\?|$)/.test(call.url)) return page();
      return jsonResponse({});
    });
    const api = createApi(new BffClient());
    const file = new File(["hello"], "hello.txt", { type: "text/plain" });
    await api.login("a@b.test", "pw");
    await api.getSession();
    await api.reauthenticate("pw");
    await api.logout();
    await api.logout(true);
    await api.listSessions();
    await api.endSession("abc");
    await api.getMe();
    await api.changePassword("old", "new");
    await api.listTokens();
    await api.createToken("ci", ["projects:read"], 30);
    await api.refreshToken(3);
    await api.revokeToken(3);
    await api.getClientSecret();
    await api.getClientSecretInfo();
    await api.rotateClientSecret();
    await api.listProjects();
    await api.getProject(1);
    await api.createProject("Alpha");
    await api.updateProject(1, { name: "Beta" });
    await api.deleteProject(1);
    await api.listFiles(1);
    await api.uploadFile(1, "hello.txt", file);
    await api.downloadFile(1, "hello.txt");
    await api.deleteFile(1, "hello.txt");
    expect(calls).toHaveLength(25);
    for (const call of calls) {
      expect(call.init.credentials, call.url).toBe("include");
      expect(call.headers.get("X-CSRF"), call.url).toBe("1");
    }
  });

  it("sends JSON bodies as application/json", async () => {
    const { calls } = stubFetch(() => jsonResponse({ id: 1, name: "Alpha" }, 201));
    await createApi(new BffClient()).createProject("Alpha", "first");
    const [call] = calls;
    expect(call?.init.method).toBe("POST");
    expect(call?.url).toBe("/api/v1/projects");
    expect(call?.headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(call?.init.body as string)).toEqual({ name: "Alpha", description: "first" });
  });

  it("PUTs an upload's raw bytes with the file's own type", async () => {
    const { calls } = stubFetch(() => jsonResponse({ name: "a b.png" }, 201));
    const file = new File([new Uint8Array([137, 80, 78, 71])], "a b.png", { type: "image/png" });
    await createApi(new BffClient()).uploadFile(7, file.name, file);
    expect(calls[0]?.url).toBe("/api/v1/projects/7/files/a%20b.png");
    expect(calls[0]?.init.method).toBe("PUT");
    expect(calls[0]?.init.body).toBe(file);
    expect(calls[0]?.headers.get("Content-Type")).toBe("image/png");
  });

  it("follows cursors through every page of a list", async () => {
    const { calls } = stubFetch((call) =>
      call.url.includes("cursor=")
        ? jsonResponse({ items: [{ id: 2 }], next_cursor: null })
        : jsonResponse({ items: [{ id: 1 }], next_cursor: "c/1" }),
    );
    const projects = await createApi(new BffClient()).listProjects();
    expect(projects.map((project) => project.id)).toEqual([1, 2]);
    expect(calls[1]?.url).toBe("/api/v1/projects?limit=100&cursor=c%2F1");
  });

  it("prefixes a base URL", async () => {
    const { calls } = stubFetch(() => jsonResponse({}));
    await new BffClient("http://127.0.0.1:8000").json("/bff/session");
    expect(calls[0]?.url).toBe("http://127.0.0.1:8000/bff/session");
  });
});

describe("errors", () => {
  it("throws a ProblemError with the problem's code", async () => {
    stubFetch(() => problemResponse(401, "invalid_credentials", "the email or password is wrong"));
    const error = await createApi(new BffClient()).login("a@b.test", "nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProblemError);
    expect(error).toMatchObject({ status: 401, code: "invalid_credentials" });
  });

  it("turns a failed fetch into a network_error problem", async () => {
    vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(new BffClient().json("/bff/session")).rejects.toMatchObject({ code: "network_error", status: 0 });
  });
});

describe("session-ended signal", () => {
  it.each(["no_session", "session_idle_expired", "session_expired", "session_revoked"])(
    "announces %s to the listeners",
    async (code) => {
      stubFetch(() => problemResponse(401, code));
      const client = new BffClient();
      const listener = vi.fn();
      client.onSessionEnded(listener);
      await expect(client.json("/api/v1/projects")).rejects.toMatchObject({ code });
      expect(listener).toHaveBeenCalledExactlyOnceWith(code);
    },
  );

  it("stays quiet for other errors, for quiet probes, and after unsubscribing", async () => {
    stubFetch((call) => (call.url.includes("csrf") ? problemResponse(403, "csrf_failed") : problemResponse(401, "no_session")));
    const client = new BffClient();
    const listener = vi.fn();
    const unsubscribe = client.onSessionEnded(listener);
    await expect(client.json("/api/csrf")).rejects.toBeInstanceOf(ProblemError);
    await expect(createApi(client).getSession(true)).rejects.toMatchObject({ code: "no_session" });
    unsubscribe();
    await expect(client.json("/api/v1/me")).rejects.toMatchObject({ code: "no_session" });
    expect(listener).not.toHaveBeenCalled();
  });
});

describe("re-authentication", () => {
  it("asks the handler, then retries the original request once with the same body", async () => {
    const { calls } = stubFetch((_call, index) =>
      index === 0 ? problemResponse(403, "reauth_required") : jsonResponse({ id: 9, token: "lkp_x" }, 201),
    );
    const client = new BffClient();
    const handler = vi.fn(() => Promise.resolve(true));
    client.setReauthHandler(handler);
    const token = await createApi(client).createToken("ci", ["profile"], 7);
    expect(token).toMatchObject({ token: "lkp_x" });
    expect(handler).toHaveBeenCalledOnce();
    expect(calls).toHaveLength(2);
    expect(calls[1]?.url).toBe(calls[0]?.url);
    expect(calls[1]?.init.method).toBe("POST");
    expect(calls[1]?.init.body).toBe(calls[0]?.init.body);
    expect(calls[1]?.headers.get("X-CSRF")).toBe("1");
  });

  it("retries only once: a second reauth_required is thrown", async () => {
    const { calls } = stubFetch(() => problemResponse(403, "reauth_required"));
    const client = new BffClient();
    const handler = vi.fn(() => Promise.resolve(true));
    client.setReauthHandler(handler);
    await expect(client.json("/api/v1/me/client-secret")).rejects.toMatchObject({ code: "reauth_required" });
    expect(handler).toHaveBeenCalledOnce();
    expect(calls).toHaveLength(2);
  });

  it("does not retry when the dialog is cancelled, fails, or there is no handler", async () => {
    const { calls } = stubFetch(() => problemResponse(403, "reauth_required"));
    const client = new BffClient();
    await expect(client.json("/api/a")).rejects.toMatchObject({ code: "reauth_required" });
    client.setReauthHandler(() => Promise.resolve(false));
    await expect(client.json("/api/b")).rejects.toMatchObject({ code: "reauth_cancelled" });
    client.setReauthHandler(() => Promise.reject(new Error("dialog broke")));
    await expect(client.json("/api/c")).rejects.toMatchObject({ code: "reauth_required" });
    expect(calls.map((call) => call.url)).toEqual(["/api/a", "/api/b", "/api/c"]);
  });

  it("a cancelled dialog fails every waiting call with reauth_cancelled, which isReauthCancelled knows", async () => {
    stubFetch(() => problemResponse(403, "reauth_required"));
    const client = new BffClient();
    let answer: (value: boolean) => void = () => undefined;
    const handler = vi.fn(() => new Promise<boolean>((resolve) => (answer = resolve)));
    client.setReauthHandler(handler);
    const both = Promise.allSettled([client.json("/api/one"), client.send204("/api/two", { method: "DELETE" })]);
    await vi.waitFor(() => expect(handler).toHaveBeenCalled());
    answer(false);
    const results = await both;
    for (const result of results) {
      expect(result.status).toBe("rejected");
      const reason: unknown = result.status === "rejected" ? result.reason : null;
      expect(reason).toBeInstanceOf(ProblemError);
      expect(reason).toMatchObject({ code: REAUTH_CANCELLED, status: 403 });
      expect(isReauthCancelled(reason)).toBe(true);
    }
    expect(handler).toHaveBeenCalledOnce();
    expect(isReauthCancelled(new ProblemError(403, "reauth_required", ""))).toBe(false);
    expect(isReauthCancelled(new Error(REAUTH_CANCELLED))).toBe(false);
  });

  it("never asks for the password on calls that opt out", async () => {
    const { calls } = stubFetch(() => problemResponse(403, "reauth_required"));
    const client = new BffClient();
    const handler = vi.fn(() => Promise.resolve(true));
    client.setReauthHandler(handler);
    await expect(client.json("/api/x", { reauth: false })).rejects.toMatchObject({ code: "reauth_required" });
    expect(handler).not.toHaveBeenCalled();
    expect(calls).toHaveLength(1);
  });

  it("opens one dialog for calls that need it at the same time", async () => {
    const seen = new Set<string>();
    stubFetch((call) => {
      if (seen.has(call.url)) return jsonResponse({ ok: call.url });
      seen.add(call.url);
      return problemResponse(403, "reauth_required");
    });
    const client = new BffClient();
    let confirm: (value: boolean) => void = () => undefined;
    const handler = vi.fn(() => new Promise<boolean>((resolve) => (confirm = resolve)));
    client.setReauthHandler(handler);
    const both = Promise.all([client.json("/api/one"), client.json("/api/two")]);
    await vi.waitFor(() => expect(handler).toHaveBeenCalled());
    confirm(true);
    expect(await both).toEqual([{ ok: "/api/one" }, { ok: "/api/two" }]);
    expect(handler).toHaveBeenCalledOnce();
  });

  it("signals an ended session found on the retry", async () => {
    stubFetch((_call, index) => (index === 0 ? problemResponse(403, "reauth_required") : problemResponse(401, "session_revoked")));
    const client = new BffClient();
    const listener = vi.fn();
    client.onSessionEnded(listener);
    client.setReauthHandler(() => Promise.resolve(true));
    await expect(client.json("/api/v1/me/tokens", { method: "POST", json: {} })).rejects.toMatchObject({
      code: "session_revoked",
    });
    expect(listener).toHaveBeenCalledWith("session_revoked");
  });
});
