/**
 * Who is signed in, as a small store a UI subscribes to (`useSession()` reads it through React's
 * `useSyncExternalStore`). The session lives in an HttpOnly cookie no script can read, so the truth is
 * asked of the BFF (`/bff/session`) at `start()`; after that the store follows:
 * - an answer that says the session ended (from any call, through the client's `onSessionEnded`) →
 *   signed out, with the reason;
 * - a logout or login in another tab (`AuthChannel`) → signed out, or the session is read again and
 *   `epoch` changes so the pages re-read their data, without a page reload.
 */
import { AuthChannel } from "./auth-channel.js";
import type { LatchkeyClient, ProviderLoginOptions } from "./latchkey.js";
import { isSessionEndedCode, ProblemError, type SessionEndedCode } from "./problem.js";
import type { SessionBody, SessionInfo, User } from "./types.js";

export type SessionStatus = "loading" | "signed-in" | "signed-out";

/** Why there is no session: an answer's code, this tab's own logout, a logout in another tab, or a
 * "log out everywhere" (in this tab or another). */
export type EndReason = SessionEndedCode | "logged_out" | "logged_out_elsewhere" | "logged_out_everywhere";

export interface SessionState {
  status: SessionStatus;
  /** The signed-in user, or null. */
  user: User | null;
  /** The session as `/bff/session` (or the login) last described it, or null. */
  session: SessionInfo | null;
  /** The session's absolute end: after it, signing in again is the only way on. */
  expiresAt: Date | null;
  /** When the session ends unless it is used before (each call through the BFF moves it on). */
  idleExpiresAt: Date | null;
  /** Why the app is signed out; null while loading, signed in, or when there never was a session. */
  reason: EndReason | null;
  /** Changes whenever data read for the user should be read again (another tab signed in). */
  epoch: number;
}

export interface SessionControllerOptions {
  /** The tab-to-tab channel: created by `start()` unless given; null turns tab sync off. */
  channel?: () => AuthChannel | null;
  /** Where `loginWithProvider()` goes (the page navigation; replaceable in tests). */
  navigate?: (url: string) => void;
}

const LOADING: SessionState = {
  status: "loading",
  user: null,
  session: null,
  expiresAt: null,
  idleExpiresAt: null,
  reason: null,
  epoch: 0,
};

export class SessionController {
  private state: SessionState = LOADING;
  private readonly listeners = new Set<() => void>();
  private readonly makeChannel: () => AuthChannel | null;
  private readonly navigate: (url: string) => void;
  private channel: AuthChannel | null = null;
  /** Bumped by `stop()`, so an answer to a read started before it is dropped. */
  private generation = 0;

  constructor(
    readonly client: LatchkeyClient,
    options: SessionControllerOptions = {},
  ) {
    this.makeChannel = options.channel ?? (() => new AuthChannel());
    this.navigate = options.navigate ?? ((url) => window.location.assign(url));
  }

  readonly getSnapshot = (): SessionState => this.state;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Read the session, then follow session-ending answers and the other tabs; returns `stop`. */
  start(): () => void {
    const generation = ++this.generation;
    const stopListening = this.client.http.onSessionEnded((code) => {
      this.update((previous) => (previous.status === "signed-out" ? previous : signedOut(previous, code)));
    });
    const channel = this.makeChannel();
    this.channel = channel;
    const unsubscribe = channel?.subscribe((message) => {
      if (message.type === "logout") {
        const reason = message.everywhere === true ? "logged_out_everywhere" : "logged_out_elsewhere";
        this.update((previous) => (previous.status === "signed-in" ? signedOut(previous, reason) : previous));
      } else {
        void this.refresh();
      }
    });
    void this.refresh();
    return () => {
      if (this.generation === generation) this.generation += 1;
      stopListening();
      unsubscribe?.();
      channel?.close();
      if (this.channel === channel) this.channel = null;
    };
  }

  /** Ask the BFF who is signed in (quietly: "no session" is an answer here, not an event). */
  async refresh(): Promise<void> {
    const generation = this.generation;
    try {
      const body = await this.client.api.getSession(true);
      if (generation !== this.generation) return;
      this.update((previous) => ({ ...signedIn(body, previous), epoch: previous.epoch + 1 }));
    } catch (error) {
      if (generation !== this.generation) return;
      // A cookie whose session ended (while the tab was closed, say) gets a precise code: say why.
      // No cookie at all (`no_session`) is simply "not signed in".
      const code = error instanceof ProblemError ? error.code : "";
      const reason = isSessionEndedCode(code) && code !== "no_session" ? code : null;
      this.update((previous) => (previous.status === "loading" ? signedOut(previous, reason) : previous));
    }
  }

  /** Sign in with a password (`/bff/login`); a `ProblemError` (`invalid_credentials`, 429…) is thrown. */
  async login(username: string, password: string): Promise<SessionBody> {
    const body = await this.client.api.login(username, password);
    this.update((previous) => signedIn(body, previous));
    this.channel?.post({ type: "login", userId: body.user.id });
    return body;
  }

  /** Go to the OpenID Provider's sign-in (the BFF needs `LATCHKEY_OIDC_ISSUER`; else the BFF answers 404). */
  loginWithProvider(options: ProviderLoginOptions = {}): void {
    this.navigate(this.client.providerLoginUrl(options));
  }

  /** End the session (or, `everywhere`, all of the user's); signed out here whatever the BFF answers. A
   * provider session whose provider can end its own session goes on to the provider's logout page. */
  async logout(everywhere = false): Promise<void> {
    let providerLogout: string | null = null;
    try {
      providerLogout = await this.client.api.logout(everywhere);
    } catch {
      // The BFF may be unreachable, and the user still asked to leave.
    }
    this.update((previous) => signedOut(previous, everywhere ? "logged_out_everywhere" : "logged_out"));
    this.channel?.post(everywhere ? { type: "logout", everywhere: true } : { type: "logout" });
    if (providerLogout !== null) this.navigate(providerLogout);
  }

  private update(change: (previous: SessionState) => SessionState): void {
    const next = change(this.state);
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener();
  }
}

function signedIn(body: SessionBody, previous: SessionState): SessionState {
  return {
    status: "signed-in",
    user: body.user,
    session: body.session,
    expiresAt: new Date(body.session.expires_at),
    idleExpiresAt: new Date(body.session.idle_expires_at),
    reason: null,
    epoch: previous.epoch,
  };
}

function signedOut(previous: SessionState, reason: EndReason | null): SessionState {
  return { ...LOADING, status: "signed-out", reason, epoch: previous.epoch };
}
