/** Helpers for the lib's unit tests: a stubbed global `fetch` that records every call. */
import { vi } from "vitest";

export interface RecordedCall {
  url: string;
  init: RequestInit;
  headers: Headers;
}

export function problemResponse(status: number, code: string, detail = "", headers: Record<string, string> = {}) {
  return new Response(JSON.stringify({ type: "about:blank", title: "Error", status, code, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Replace the browser's `fetch` with answers produced in order by `respond`. */
export function stubFetch(respond: (call: RecordedCall, index: number) => Response | Promise<Response>) {
  const calls: RecordedCall[] = [];
  const fetchMock = vi.fn((input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const call: RecordedCall = { url, init, headers: new Headers(init.headers) };
    calls.push(call);
    return Promise.resolve(respond(call, calls.length - 1));
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}
