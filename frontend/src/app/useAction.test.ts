import { describe, expect, it } from "vitest";
import { problemFromResponse, reauthCancelled } from "@latchkey/client";
import { runAction, type ActionState } from "./useAction";

/** A problem+json answer as the BFF sends one. */
function problemResponse(status: number, code: string, detail: string): Response {
  return new Response(JSON.stringify({ type: "about:blank", title: "Error", status, code, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

/** An `ActionState` that remembers every change, the way React state would end up. */
function recorder() {
  const log: string[] = [];
  const state = { busy: false, error: null as string | null };
  const target: ActionState = {
    setBusy: (busy) => {
      state.busy = busy;
      log.push(`busy=${String(busy)}`);
    },
    setError: (message) => {
      state.error = message;
      log.push(`error=${String(message)}`);
    },
  };
  return { log, state, target };
}

/** A promise and the functions that settle it, to look at the state while an action runs. */
function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  let reject: (reason: unknown) => void = () => undefined;
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}

describe("runAction", () => {
  it("resolves to the action's value and leaves no message", async () => {
    const { log, state, target } = recorder();
    await expect(runAction(() => Promise.resolve(42), target)).resolves.toBe(42);
    expect(state).toEqual({ busy: false, error: null });
    expect(log).toEqual(["busy=true", "error=null", "busy=false"]);
  });

  it("is busy while the action runs and not after", async () => {
    const { state, target } = recorder();
    const pending = deferred<string>();
    const running = runAction(() => pending.promise, target);
    expect(state.busy).toBe(true);
    pending.resolve("done");
    await expect(running).resolves.toBe("done");
    expect(state.busy).toBe(false);
  });

  it("is not busy after a failure either", async () => {
    const { state, target } = recorder();
    const pending = deferred<undefined>();
    const running = runAction(() => pending.promise, target);
    expect(state.busy).toBe(true);
    pending.reject(new Error("boom"));
    await running;
    expect(state.busy).toBe(false);
  });

  it("turns a problem+json answer into its message, and resolves to undefined", async () => {
    const { state, target } = recorder();
    const problem = await problemFromResponse(problemResponse(409, "too_many_tokens", "you have 50 tokens already"));
    await expect(runAction(() => Promise.reject(problem), target)).resolves.toBeUndefined();
    expect(state).toEqual({ busy: false, error: "You have 50 tokens already" });
  });

  it("says what the code means for codes the app knows", async () => {
    const { state, target } = recorder();
    const problem = await problemFromResponse(problemResponse(502, "upstream_unavailable", "core down"));
    await runAction(() => Promise.reject(problem), target);
    expect(state.error).toBe("The service is not answering right now. Try again in a moment.");
  });

  it("uses the form's own wording when it has one", async () => {
    const { state, target } = recorder();
    const problem = await problemFromResponse(problemResponse(401, "invalid_credentials", "bad password"));
    const describe = (error: unknown) => (error === problem ? "Wrong password. Try again." : "other");
    await runAction(() => Promise.reject(problem), target, describe);
    expect(state.error).toBe("Wrong password. Try again.");
  });

  it("clears the previous message when the next run starts", async () => {
    const { state, target } = recorder();
    await runAction(() => Promise.reject(new Error("first")), target);
    expect(state.error).toBe("Something went wrong.");
    const pending = deferred<undefined>();
    const running = runAction(() => pending.promise, target);
    expect(state.error).toBeNull();
    pending.resolve(undefined);
    await running;
    expect(state.error).toBeNull();
  });

  it("shows no message when the user cancelled the password dialog, and resolves to undefined", async () => {
    const { log, state, target } = recorder();
    await runAction(() => Promise.reject(new Error("first")), target);
    const result = await runAction(() => Promise.reject(reauthCancelled()), target);
    expect(result).toBeUndefined();
    expect(state).toEqual({ busy: false, error: null });
    expect(log.slice(-3)).toEqual(["busy=true", "error=null", "busy=false"]);
  });
});
