import { afterEach, describe, expect, it, vi } from "vitest";
import { AUTH_CHANNEL_NAME, AuthChannel, isAuthMessage, type AuthMessage } from "./auth-channel.js";

const opened: { close(): void }[] = [];

function channel(): AuthChannel {
  const created = new AuthChannel();
  opened.push(created);
  return created;
}

afterEach(() => {
  for (const item of opened.splice(0)) item.close();
});

/** The next message a listener gets, or a timeout. */
function nextMessage(target: AuthChannel): Promise<AuthMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message")), 1000);
    const stop = target.subscribe((message) => {
      clearTimeout(timer);
      stop();
      resolve(message);
    });
  });
}

describe("AuthChannel", () => {
  it("uses the latchkey-auth channel", () => {
    const factory = vi.fn((name: string) => new BroadcastChannel(name));
    opened.push(new AuthChannel(factory));
    expect(factory).toHaveBeenCalledWith(AUTH_CHANNEL_NAME);
    expect(AUTH_CHANNEL_NAME).toBe("latchkey-auth");
  });

  it("tells the other tabs about a logout and a login", async () => {
    const sender = channel();
    const receiver = channel();
    const logout = nextMessage(receiver);
    sender.post({ type: "logout" });
    expect(await logout).toEqual({ type: "logout" });
    const login = nextMessage(receiver);
    sender.post({ type: "login", userId: 42 });
    expect(await login).toEqual({ type: "login", userId: 42 });
  });

  it("does not hear its own messages", async () => {
    const sender = channel();
    const receiver = channel();
    const own = vi.fn();
    sender.subscribe(own);
    const heard = nextMessage(receiver);
    sender.post({ type: "logout" });
    await heard;
    expect(own).not.toHaveBeenCalled();
  });

  it("ignores anything that is not an auth message", async () => {
    const receiver = channel();
    const listener = vi.fn();
    receiver.subscribe(listener);
    const raw = new BroadcastChannel(AUTH_CHANNEL_NAME);
    opened.push(raw);
    raw.postMessage("logout");
    raw.postMessage({ type: "login" });
    raw.postMessage({ type: "exfiltrate" });
    const valid = nextMessage(receiver);
    raw.postMessage({ type: "logout" });
    await valid;
    expect(listener).toHaveBeenCalledExactlyOnceWith({ type: "logout" });
  });

  it("works as a no-op where BroadcastChannel does not exist", () => {
    const lone = new AuthChannel(null);
    expect(() => lone.post({ type: "logout" })).not.toThrow();
    lone.close();
  });
});

describe("isAuthMessage", () => {
  it("accepts exactly the two message shapes", () => {
    expect(isAuthMessage({ type: "logout" })).toBe(true);
    expect(isAuthMessage({ type: "login", userId: 1 })).toBe(true);
    expect(isAuthMessage({ type: "login", userId: "1" })).toBe(false);
    expect(isAuthMessage(null)).toBe(false);
  });
});
