/**
 * `createClient`: everything an app needs to reach Latchkey's BFF, from one base URL — the transport
 * (`BffClient`: the cookie, `X-CSRF: 1`, typed problems, re-authentication), typed calls by route, the
 * named calls of the core's API, event streams over fetch, WebSockets, and the provider sign-in address.
 */
import { createApi, type Api } from "./api.js";
import { BffClient } from "./client.js";
import { createRoutes, type RouteCalls } from "./routes.js";
import { openEventStream, type EventStreamHandle, type EventStreamOptions } from "./sse.js";

export interface ClientOptions {
  /**
   * The BFF's origin and base path, e.g. "https://api.example.com" or "https://example.com/auth" (no
   * trailing slash). Empty (the default) when the app is served by the BFF itself or proxied to it.
   * Another origin must be listed in the BFF's `LATCHKEY_ALLOWED_ORIGINS`.
   */
  baseUrl?: string;
}

export interface ProviderLoginOptions {
  /** The path to come back to after signing in (default: the current page's path, query and fragment). */
  returnTo?: string;
  /** "login": the provider must ask for the credentials again, even with a session of its own. */
  prompt?: "login";
}

export type EventHandlers = Omit<EventStreamOptions, "client" | "path">;

export interface LatchkeyClient {
  readonly baseUrl: string;
  /** The transport, for any path of the BFF: the core's under `/api`, your own routes (`LATCHKEY_BFF_ROUTES`). */
  readonly http: BffClient;
  /** Typed calls by route: the answer, body and parameters come from the route (the core's OpenAPI document). */
  readonly routes: RouteCalls;
  /** One named function for each BFF route and core route the Latchkey SPA uses. */
  readonly api: Api;
  /** Follow a `text/event-stream` path (Server-Sent Events over fetch, so `X-CSRF` and the cookie go along). */
  events(path: string, handlers: EventHandlers): EventStreamHandle;
  /** Open a WebSocket to a path of the BFF (`ws:`/`wss:` from the base URL); the browser sends the cookie and
   * the `Origin`, which the BFF checks (a WebSocket cannot carry `X-CSRF`). */
  webSocket(path: string, protocols?: string | string[]): WebSocket;
  /** The address of `/bff/login/oidc`, which starts a sign-in at the OpenID Provider (a page navigation). */
  providerLoginUrl(options?: ProviderLoginOptions): string;
}

/** The page's own address, for relative URLs and the default `returnTo` (none outside a browser). */
function currentLocation(): Location | undefined {
  return typeof location === "undefined" ? undefined : location;
}

/** The `ws:`/`wss:` URL of an `http:`/`https:` one (relative ones resolved against the page). */
export function webSocketUrl(httpUrl: string, base: string | undefined = currentLocation()?.href): string {
  const url = new URL(httpUrl, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export function createClient(options: ClientOptions = {}): LatchkeyClient {
  const baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
  const http = new BffClient(baseUrl);
  return {
    baseUrl,
    http,
    routes: createRoutes(http),
    api: createApi(http),
    events: (path, handlers) => openEventStream({ ...handlers, client: http, path }),
    webSocket: (path, protocols) => new WebSocket(webSocketUrl(http.url(path)), protocols),
    providerLoginUrl: ({ returnTo, prompt } = {}) => {
      const here = currentLocation();
      const back = returnTo ?? (here ? here.pathname + here.search + here.hash : "/");
      const query = new URLSearchParams({ return_to: back });
      if (prompt) query.set("prompt", prompt);
      return http.url(`/bff/login/oidc?${query.toString()}`);
    },
  };
}
