/**
 * Who is signed in, for the whole app. The session lives in an HttpOnly cookie the app cannot read, so
 * the truth is asked of the BFF (`/bff/session`) at start-up; after that the app follows:
 * - answers that say the session ended (from any call, through `bff.onSessionEnded`) → signed out, with
 *   the reason the login page shows;
 * - a logout or login in another tab (BroadcastChannel "latchkey-auth") → signed out, or the data is
 *   read again (`epoch` changes), without a page reload.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api } from "../lib/api";
import { AuthChannel } from "../lib/auth-channel";
import { bff } from "../lib/client";
import { isSessionEndedCode, ProblemError, type SessionEndedCode } from "../lib/problem";
import type { SessionInfo, User } from "../lib/types";

/** Why the app went back to the login page (shown there). */
export type EndReason = SessionEndedCode | "logged_out_elsewhere";

type AuthState =
  | { status: "loading" }
  /** `reason`: why a session ended, "logged_out" after this tab's own logout, null if there was none. */
  | { status: "signed-out"; reason: EndReason | "logged_out" | null }
  | { status: "signed-in"; user: User; session: SessionInfo };

export interface AuthContextValue {
  state: AuthState;
  /** The signed-in user, or null. */
  user: User | null;
  /** Changes whenever the pages should read their data again (a login in another tab). */
  epoch: number;
  login: (email: string, password: string) => Promise<void>;
  logout: (everywhere?: boolean) => Promise<void>;
}

const AuthContext = createContext<AuthContextValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: "loading" });
  const [epoch, setEpoch] = useState(0);
  const channel = useRef<AuthChannel | null>(null);

  /** Ask the BFF who is signed in (at start-up, and when another tab signed in). */
  const readSession = useCallback(() => {
    let current = true;
    api.getSession(true).then(
      (body) => {
        if (!current) return;
        setState({ status: "signed-in", user: body.user, session: body.session });
        setEpoch((value) => value + 1);
      },
      (error: unknown) => {
        if (!current) return;
        // A cookie whose session ended (while the tab was closed, say) gets a precise code: say why.
        // No cookie at all (`no_session`) is simply "not signed in".
        const code = error instanceof ProblemError ? error.code : "";
        const reason = isSessionEndedCode(code) && code !== "no_session" ? code : null;
        setState((previous) => (previous.status === "loading" ? { status: "signed-out", reason } : previous));
      },
    );
    return () => {
      current = false;
    };
  }, []);

  useEffect(() => readSession(), [readSession]);

  useEffect(() => {
    return bff.onSessionEnded((code) => {
      setState((previous) => (previous.status === "signed-out" ? previous : { status: "signed-out", reason: code }));
    });
  }, []);

  useEffect(() => {
    const created = new AuthChannel();
    channel.current = created;
    const unsubscribe = created.subscribe((message) => {
      if (message.type === "logout") {
        setState((previous) =>
          previous.status === "signed-in" ? { status: "signed-out", reason: "logged_out_elsewhere" } : previous,
        );
      } else {
        readSession();
      }
    });
    return () => {
      unsubscribe();
      created.close();
      channel.current = null;
    };
  }, [readSession]);

  const login = useCallback(async (email: string, password: string) => {
    const body = await api.login(email, password);
    setState({ status: "signed-in", user: body.user, session: body.session });
    channel.current?.post({ type: "login", userId: body.user.id });
  }, []);

  const logout = useCallback(async (everywhere = false) => {
    try {
      await api.logout(everywhere);
    } catch {
      // Signed out here whatever the answer: the BFF may be unreachable, and the user still asked to leave.
    }
    setState({ status: "signed-out", reason: "logged_out" });
    channel.current?.post({ type: "logout" });
  }, []);

  const value = useMemo<AuthContextValue>(
    () => ({ state, user: state.status === "signed-in" ? state.user : null, epoch, login, logout }),
    [state, epoch, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (value === null) throw new Error("useAuth outside AuthProvider");
  return value;
}

/** The signed-in user, for pages that only render when there is one. */
export function useUser(): User {
  const { user } = useAuth();
  if (user === null) throw new Error("useUser without a signed-in user");
  return user;
}

export const END_REASON_MESSAGES: Record<EndReason, string> = {
  session_idle_expired: "Your session expired after a period of inactivity. Sign in again to continue.",
  session_expired: "Your session expired. Sign in again to continue.",
  session_revoked: "Your session has ended. Sign in again to continue.",
  no_session: "Your session has ended. Sign in again to continue.",
  logged_out_elsewhere: "Your session ended: you signed out in another tab.",
};
