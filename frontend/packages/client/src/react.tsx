/**
 * The React side: `<LatchkeyProvider client={…}>` holds the session store for its subtree; `useSession()`
 * reads it (status, user, both expiries, login, logout, tab sync); `useLatchkey()` gives the client;
 * `useReauthHandler()` and `useReauthPrompt()` answer the BFF's `reauth_required` with the user's password.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import type { ReactNode } from "react";
import type { ReauthHandler } from "./client.js";
import type { LatchkeyClient, ProviderLoginOptions } from "./latchkey.js";
import { ProblemError } from "./problem.js";
import { SessionController, type SessionState } from "./session.js";
import type { SessionBody } from "./types.js";

const LatchkeyContext = createContext<SessionController | null>(null);

export interface LatchkeyProviderProps {
  client: LatchkeyClient;
  /** Follow logins and logouts of the app's other tabs (BroadcastChannel "latchkey-auth"); default true. */
  tabSync?: boolean;
  children?: ReactNode;
}

/** Reads the session once mounted and keeps it current for every `useSession()` below. */
export function LatchkeyProvider({ client, tabSync = true, children }: LatchkeyProviderProps) {
  const controller = useMemo(
    () => new SessionController(client, tabSync ? {} : { channel: () => null }),
    [client, tabSync],
  );
  useEffect(() => controller.start(), [controller]);
  return <LatchkeyContext.Provider value={controller}>{children}</LatchkeyContext.Provider>;
}

function useController(): SessionController {
  const controller = useContext(LatchkeyContext);
  if (controller === null) throw new Error("Latchkey hooks need a <LatchkeyProvider> above them");
  return controller;
}

/** The client given to the provider. */
export function useLatchkey(): LatchkeyClient {
  return useController().client;
}

export interface Session extends SessionState {
  /** Sign in with a password; throws a `ProblemError` (`invalid_credentials`, `rate_limited`, …). */
  login: (username: string, password: string) => Promise<SessionBody>;
  /** Navigate to the OpenID Provider's sign-in (the BFF must have a provider configured). */
  loginWithProvider: (options?: ProviderLoginOptions) => void;
  /** End this session, or with `true` every session of the user; never throws. */
  logout: (everywhere?: boolean) => Promise<void>;
  /** Read the session again (its idle expiry moves on with every call). */
  refresh: () => Promise<void>;
}

/** Who is signed in, re-rendering on every change. */
export function useSession(): Session {
  const controller = useController();
  const state = useSyncExternalStore(controller.subscribe, controller.getSnapshot, controller.getSnapshot);
  return useMemo(
    () => ({
      ...state,
      login: (username, password) => controller.login(username, password),
      loginWithProvider: (options) => controller.loginWithProvider(options),
      logout: (everywhere) => controller.logout(everywhere),
      refresh: () => controller.refresh(),
    }),
    [state, controller],
  );
}

/**
 * Answer `reauth_required` while mounted: `handler` asks for the password (and posts it, e.g. with
 * `client.api.reauthenticate`) and resolves true once that succeeded; the failed call is then sent once more.
 * Calls that need it at the same moment share one handler run. The latest `handler` is always the one called.
 */
export function useReauthHandler(handler: ReauthHandler | null): void {
  const client = useLatchkey();
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  const enabled = handler !== null;
  useEffect(() => {
    if (!enabled) return;
    client.http.setReauthHandler(() => (latest.current ? latest.current() : Promise.resolve(false)));
    return () => client.http.setReauthHandler(null);
  }, [client, enabled]);
}

export interface ReauthPrompt {
  /** True while a call waits for the password: show the password form. */
  pending: boolean;
  /** Post the password (`/bff/reauthenticate`); the waiting calls are then retried. A wrong password throws
   * a `ProblemError` with code `invalid_credentials` (the form stays); an ended session closes the prompt. */
  confirm: (password: string) => Promise<void>;
  /** Give up: the waiting calls fail with `reauth_cancelled` (`isReauthCancelled`: show no error for it). */
  cancel: () => void;
}

/** The state of a password prompt for `reauth_required`, for a dialog of your own. */
export function useReauthPrompt(): ReauthPrompt {
  const client = useLatchkey();
  const [pending, setPending] = useState(false);
  const settle = useRef<((confirmed: boolean) => void) | null>(null);

  const finish = useCallback((confirmed: boolean) => {
    settle.current?.(confirmed);
    settle.current = null;
    setPending(false);
  }, []);

  useReauthHandler(
    useCallback(
      () =>
        new Promise<boolean>((resolve) => {
          settle.current = resolve;
          setPending(true);
        }),
      [],
    ),
  );
  // Unmounted while asking: the waiting calls fail rather than hang.
  useEffect(() => () => settle.current?.(false), []);

  const confirm = useCallback(
    async (password: string) => {
      try {
        await client.api.reauthenticate(password);
      } catch (error) {
        // The session is over: the prompt closes and the session's end reaches `useSession()`.
        if (!(error instanceof ProblemError && error.endsSession)) throw error;
        finish(false);
        return;
      }
      finish(true);
    },
    [client, finish],
  );
  const cancel = useCallback(() => finish(false), [finish]);
  return { pending, confirm, cancel };
}
