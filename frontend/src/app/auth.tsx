/**
 * Who is signed in, for the whole app: `@latchkey/client`'s session store (`useSession()`), which reads
 * `/bff/session` at start-up, goes signed out on any answer that says the session ended, and follows
 * logins and logouts of the other tabs without a reload. Here: the app's provider and the login page's
 * sentences.
 */
import { LatchkeyProvider, useSession, type EndReason, type Session, type User } from "@latchkey/client";
import type { ReactNode } from "react";
import { latchkey } from "./latchkey";

export function AuthProvider({ children }: { children: ReactNode }) {
  return <LatchkeyProvider client={latchkey}>{children}</LatchkeyProvider>;
}

export function useAuth(): Session {
  return useSession();
}

/** The signed-in user, for pages that only render when there is one. */
export function useUser(): User {
  const { user } = useSession();
  if (user === null) throw new Error("useUser without a signed-in user");
  return user;
}

/** Why the app went back to the login page (shown there; nothing after the user's own logout). */
export const END_REASON_MESSAGES: Record<Exclude<EndReason, "logged_out">, string> = {
  session_idle_expired: "Your session expired after a period of inactivity. Sign in again to continue.",
  session_expired: "Your session expired. Sign in again to continue.",
  session_revoked: "Your session has ended. Sign in again to continue.",
  no_session: "Your session has ended. Sign in again to continue.",
  logged_out_elsewhere: "Your session ended: you signed out in another tab.",
  logged_out_everywhere:
    "You were signed out everywhere: every session of your account has ended, on this device and on any other.",
  session_password_changed:
    "Your password was changed in another session, so this one has ended. Sign in with the new password.",
};
