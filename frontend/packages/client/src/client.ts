/**
 * The one way an app talks to the BFF: `fetch` with the session cookie (`credentials: "include"`) and
 * the `X-CSRF: 1` header the BFF requires on every /bff and /api call. Failures become `ProblemError`s;
 * an answer that says the session is over is also announced to `onSessionEnded` listeners, and a
 * `reauth_required` answer asks the registered re-authentication handler (the password dialog) and then
 * sends the original request once more.
 */
import { networkError, ProblemError, problemFromResponse, reauthCancelled, type SessionEndedCode } from "./problem.js";
import { sendWithProgress, uploadProblem, type UploadOptions } from "./upload.js";

export interface CallOptions {
  method?: string;
  /** A value sent as `application/json`. */
  json?: unknown;
  /** A raw body (a File, a Blob, a string); it must be re-readable, as a reauth retry sends it again. */
  body?: Blob | string;
  /** The body's Content-Type (a raw `body` only). */
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** Announce a session-ending answer to the app (default true; the start-up session probe says no). */
  signalSessionEnded?: boolean;
  /** Ask for the password and retry on `reauth_required` (default true). */
  reauth?: boolean;
}

/**
 * Opens the password dialog; resolves true once `/bff/reauthenticate` succeeded, false if the user
 * cancelled (the call then fails with `reauth_cancelled`). A rejection leaves the call's `reauth_required`.
 */
export type ReauthHandler = () => Promise<boolean>;

/** How a re-authentication ended: the call is retried, fails as cancelled, or keeps its own problem. */
type ReauthOutcome = "confirmed" | "cancelled" | "unavailable";
export type SessionEndedListener = (code: SessionEndedCode) => void;

export class BffClient {
  private readonly sessionEndedListeners = new Set<SessionEndedListener>();
  private reauthHandler: ReauthHandler | null = null;
  private pendingReauth: Promise<ReauthOutcome> | null = null;

  /** `baseUrl` is empty for an app served by the BFF itself (or proxied to it), else the BFF's origin and
   * base path, e.g. "https://api.example.com" (no trailing slash). */
  constructor(readonly baseUrl = "") {}

  /** The absolute (or, with an empty base, root-relative) URL of a BFF path such as "/api/v1/me". */
  url(path: string): string {
    return this.baseUrl + path;
  }

  /** Be told when an answer says the session is over; returns the unsubscribe function. */
  onSessionEnded(listener: SessionEndedListener): () => void {
    this.sessionEndedListeners.add(listener);
    return () => this.sessionEndedListeners.delete(listener);
  }

  /** Register (or, with null, remove) what runs on `reauth_required`. */
  setReauthHandler(handler: ReauthHandler | null): void {
    this.reauthHandler = handler;
  }

  /** The response of a successful call (2xx); anything else is thrown as a `ProblemError`. */
  async request(path: string, options: CallOptions = {}): Promise<Response> {
    const response = await this.send(path, options);
    if (response.ok) return response;
    const problem = await problemFromResponse(response);
    if (problem.code === "reauth_required" && options.reauth !== false) {
      const outcome = await this.reauthenticate();
      if (outcome === "cancelled") throw reauthCancelled(problem.status);
      if (outcome === "confirmed") {
        // One retry only: a second reauth_required is the caller's error, not another dialog.
        const retried = await this.send(path, options);
        if (retried.ok) return retried;
        throw this.failed(await problemFromResponse(retried), options);
      }
    }
    throw this.failed(problem, options);
  }

  /**
   * A JSON answer (or `undefined` for 204 No Content), untyped: what it is declared to be is the route's
   * business (`routes.ts`), not the transport's.
   */
  async json(path: string, options: CallOptions = {}): Promise<unknown> {
    const response = await this.request(path, { accept: "application/json", ...options });
    if (response.status === 204) return undefined;
    const body: unknown = await response.json();
    return body;
  }

  /** A call whose answer has no body worth reading (204). */
  async send204(path: string, options: CallOptions = {}): Promise<void> {
    const response = await this.request(path, options);
    await response.body?.cancel();
  }

  /**
   * A raw body sent by XMLHttpRequest, which reports upload progress (`fetch` cannot): the JSON answer,
   * or the same `ProblemError`s, session-ended signal and one re-authentication retry as `request`.
   */
  async upload(
    path: string,
    body: Blob,
    options: UploadOptions & Pick<CallOptions, "reauth" | "signalSessionEnded"> = {},
  ): Promise<unknown> {
    const answer = await sendWithProgress(this.url(path), body, options);
    if (answer.status >= 200 && answer.status < 300) return answer.body ?? undefined;
    const problem = uploadProblem(answer);
    if (problem.code === "reauth_required" && options.reauth !== false) {
      const outcome = await this.reauthenticate();
      if (outcome === "cancelled") throw reauthCancelled(problem.status);
      if (outcome !== "confirmed") throw this.failed(problem, options);
      const retried = await sendWithProgress(this.url(path), body, options);
      if (retried.status >= 200 && retried.status < 300) return retried.body ?? undefined;
      throw this.failed(uploadProblem(retried), options);
    }
    throw this.failed(problem, options);
  }

  private async send(path: string, options: CallOptions): Promise<Response> {
    const headers = new Headers({ "X-CSRF": "1" });
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      body = options.body;
      if (options.contentType) headers.set("Content-Type", options.contentType);
    }
    if (options.accept) headers.set("Accept", options.accept);
    const init: RequestInit = {
      method: options.method ?? "GET",
      headers,
      body,
      credentials: "include",
      cache: "no-store",
      redirect: "error",
    };
    if (options.signal) init.signal = options.signal;
    try {
      return await fetch(this.url(path), init);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw networkError(error);
    }
  }

  private failed(problem: ProblemError, options: Pick<CallOptions, "signalSessionEnded">): ProblemError {
    if (problem.endsSession && options.signalSessionEnded !== false) {
      for (const listener of [...this.sessionEndedListeners]) listener(problem.code as SessionEndedCode);
    }
    return problem;
  }

  /** Ask the handler once for all the calls that need it at the same moment. */
  private reauthenticate(): Promise<ReauthOutcome> {
    const handler = this.reauthHandler;
    if (handler === null) return Promise.resolve("unavailable");
    this.pendingReauth ??= handler()
      .then((confirmed): ReauthOutcome => (confirmed ? "confirmed" : "cancelled"))
      .catch((): ReauthOutcome => "unavailable")
      .finally(() => {
        this.pendingReauth = null;
      });
    return this.pendingReauth;
  }
}
