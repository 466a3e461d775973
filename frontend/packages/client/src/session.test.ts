import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthChannel } from "./auth-channel.js";
import { createClient } from "./latchkey.js";
import { SessionController, type SessionState } from "./session.js";
import { jsonResponse, problemResponse, stubFetch } from "./test-helpers.js";

const body = {
  user: { id: 7, email: "mia@example.test", name: "Mia", role: "member", is_developer: false },
  session: {
    id: "s1",
    created_at: "2026-01-01T10:00:00Z",
    expires_at: "2026-01-01T18:00:00Z",
    idle_expires_at: "2026-01-01T10:30:00Z",
  },
};

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const item of opened.splice(0)) item.close();
});

/** A controller on its own channel name, so tests never hear each other; `tab()` is another tab on it. */
function setup(options: { channel?: boolean } = {}) {
  const name = `latchkey-test-${Math.random().toString(36).slice(2)}`;
  const client = createClient({ baseUrl: "https://bff.example.test" });
  const navigate = vi.fn();
  const controller = new SessionController(client, {
    channel: options.channel === false ? () => null : () => new AuthChannel(() => new BroadcastChannel(name)),
    navigate,
  });
  const tab = () => {
    const other = new AuthChannel(() => new BroadcastChannel(name));
    opened.push(other);
    return other;
  };
  return { client, controller, navigate, tab };
}

/** The next state the controller announces that satisfies `done`. */
function until(controller: SessionController, done: (state: SessionState) => boolean): Promise<SessionState> {
  return new Promise((resolve, reject) => {
    if (done(controller.getSnapshot())) {
      resolve(controller.getSnapshot());
      return;
    }
    const timer = setTimeout(() => reject(new Error(`stuck at ${JSON.stringify(controller.getSnapshot())}`)), 1000);
    const stop = controller.subscribe(() => {
      if (!done(controller.getSnapshot())) return;
      clearTimeout(timer);
      stop();
      resolve(controller.getSnapshot());
    });
  });
}

describe("SessionController", () => {
  it("reads /bff/session at start: signed in, with the user and both expiries", async () => {
    const { calls } = stubFetch(() => jsonResponse(body));
    const { controller } = setup();
    expect(controller.getSnapshot().status).toBe("loading");
    const stop = controller.start();
    const state = await until(controller, (s) => s.status !== "loading");
    stop();
    expect(calls[0]?.url).toBe("https://bff.example.test/bff/session");
    expect(state).toMatchObject({ status: "signed-in", user: body.user, reason: null, epoch: 1 });
    expect(state.expiresAt?.toISOString()).toBe("2026-01-01T18:00:00.000Z");
    expect(state.idleExpiresAt?.toISOString()).toBe("2026-01-01T10:30:00.000Z");
  });

  it("no cookie is simply signed out; an ended session says why", async () => {
    stubFetch(() => problemResponse(401, "no_session"));
    const first = setup();
    const stopFirst = first.controller.start();
    expect(await until(first.controller, (s) => s.status !== "loading")).toMatchObject({
      status: "signed-out",
      reason: null,
      user: null,
    });
    stopFirst();

    stubFetch(() => problemResponse(401, "session_idle_expired"));
    const second = setup();
    const stopSecond = second.controller.start();
    expect(await until(second.controller, (s) => s.status !== "loading")).toMatchObject({
      status: "signed-out",
      reason: "session_idle_expired",
    });
    stopSecond();
  });

  it("any call answering that the session ended signs out, with the code", async () => {
    stubFetch((call) =>
      call.url.endsWith("/bff/session") ? jsonResponse(body) : problemResponse(401, "session_revoked"),
    );
    const { client, controller } = setup();
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-in");
    await expect(client.api.getMe()).rejects.toMatchObject({ code: "session_revoked" });
    expect(controller.getSnapshot()).toMatchObject({ status: "signed-out", reason: "session_revoked", user: null });
    stop();
  });

  it("login signs in and tells the other tabs; logout signs out and tells them too", async () => {
    const { calls } = stubFetch((call) => {
      if (call.url.endsWith("/bff/session")) return problemResponse(401, "no_session");
      if (call.url.endsWith("/bff/login")) return jsonResponse(body);
      return new Response(null, { status: 204 });
    });
    const { controller, tab } = setup();
    const other = tab();
    const heard: unknown[] = [];
    other.subscribe((message) => heard.push(message));
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-out");

    await controller.login("mia@example.test", "pw");
    expect(controller.getSnapshot()).toMatchObject({ status: "signed-in", user: body.user });
    await controller.logout(true);
    expect(controller.getSnapshot()).toMatchObject({ status: "signed-out", reason: "logged_out_everywhere" });
    await vi.waitFor(() =>
      expect(heard).toEqual([{ type: "login", userId: 7 }, { type: "logout", everywhere: true }]),
    );
    expect(calls.map((call) => `${String(call.init.method)} ${call.url}`)).toEqual([
      "GET https://bff.example.test/bff/session",
      "POST https://bff.example.test/bff/login",
      "POST https://bff.example.test/bff/logout?everywhere=true",
    ]);
    stop();
  });

  it("a wrong password leaves the state as it was and throws the problem", async () => {
    stubFetch((call) =>
      call.url.endsWith("/bff/login") ? problemResponse(401, "invalid_credentials") : problemResponse(401, "no_session"),
    );
    const { controller } = setup();
    const stop = controller.start();
    const before = await until(controller, (s) => s.status === "signed-out");
    await expect(controller.login("mia@example.test", "nope")).rejects.toMatchObject({ code: "invalid_credentials" });
    expect(controller.getSnapshot()).toBe(before);
    stop();
  });

  it("follows the other tabs: a logout there signs out here, a login there re-reads the session", async () => {
    let signedIn = true;
    stubFetch(() => (signedIn ? jsonResponse(body) : problemResponse(401, "no_session")));
    const { controller, tab } = setup();
    const other = tab();
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-in");

    signedIn = false;
    other.post({ type: "logout" });
    expect(await until(controller, (s) => s.status === "signed-out")).toMatchObject({ reason: "logged_out_elsewhere" });

    signedIn = true;
    other.post({ type: "login", userId: 7 });
    const back = await until(controller, (s) => s.status === "signed-in");
    expect(back.epoch).toBe(2);
    stop();
  });

  it("a logout everywhere in another tab says so here", async () => {
    stubFetch(() => jsonResponse(body));
    const { controller, tab } = setup();
    const other = tab();
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-in");
    other.post({ type: "logout", everywhere: true });
    expect(await until(controller, (s) => s.status === "signed-out")).toMatchObject({ reason: "logged_out_everywhere" });
    stop();
  });

  it("a logout of this tab alone says nothing on the login page (reason logged_out)", async () => {
    stubFetch((call) => (call.url.endsWith("/bff/logout") ? new Response(null, { status: 204 }) : jsonResponse(body)));
    const { controller } = setup({ channel: false });
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-in");
    await controller.logout();
    expect(controller.getSnapshot()).toMatchObject({ status: "signed-out", reason: "logged_out" });
    stop();
  });

  it("after stop, a late answer and the other tabs change nothing", async () => {
    let answer!: (response: Response) => void;
    stubFetch(() => new Promise<Response>((resolve) => (answer = resolve)));
    const { controller, tab } = setup();
    const other = tab();
    const stop = controller.start();
    stop();
    answer(jsonResponse(body));
    other.post({ type: "logout" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(controller.getSnapshot().status).toBe("loading");
  });

  it("a provider session's logout goes on to the provider's logout page", async () => {
    const logoutUrl = "https://id.example.test/logout?id_token_hint=x";
    stubFetch((call) => (call.url.includes("/bff/logout") ? jsonResponse({ logout_url: logoutUrl }) : jsonResponse(body)));
    const { controller, navigate } = setup({ channel: false });
    const stop = controller.start();
    await until(controller, (s) => s.status === "signed-in");
    await controller.logout();
    expect(controller.getSnapshot()).toMatchObject({ status: "signed-out", reason: "logged_out" });
    expect(navigate).toHaveBeenCalledWith(logoutUrl);
    stop();
  });

  it("loginWithProvider navigates to /bff/login/oidc with the page to come back to", () => {
    const { controller, navigate } = setup({ channel: false });
    controller.loginWithProvider({ returnTo: "/projects?tab=2", prompt: "login" });
    expect(navigate).toHaveBeenCalledWith(
      "https://bff.example.test/bff/login/oidc?return_to=%2Fprojects%3Ftab%3D2&prompt=login",
    );
  });
});
