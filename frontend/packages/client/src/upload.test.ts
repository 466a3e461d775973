import { afterEach, describe, expect, it, vi } from "vitest";
import { createApi } from "./api.js";
import { BffClient } from "./client.js";
import { ProblemError } from "./problem.js";
import { jsonResponse, stubFetch } from "./test-helpers.js";

/** A stand-in XMLHttpRequest: records what was sent; the test answers, fails or progresses it by hand. */
class FakeXhr {
  static sent: FakeXhr[] = [];
  method = "";
  url = "";
  withCredentials = false;
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  responseText = "";
  responseHeaders: Record<string, string> = {};
  aborted = false;
  upload: { onprogress: ((event: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name.toLowerCase()] = value;
  }
  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  send(body: unknown) {
    this.body = body;
    FakeXhr.sent.push(this);
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = body === null ? "" : JSON.stringify(body);
    this.responseHeaders = {
      "content-type": status >= 400 ? "application/problem+json" : "application/json",
      ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    };
    this.onload?.();
  }
}

function installFakeXhr() {
  FakeXhr.sent = [];
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
}

/** The next request sent (after the promise chain has reached `send`). */
async function nextSent(index = 0): Promise<FakeXhr> {
  await vi.waitFor(() => {
    expect(FakeXhr.sent.length).toBeGreaterThan(index);
  });
  const xhr = FakeXhr.sent[index];
  if (!xhr) throw new Error("no request");
  return xhr;
}

const FILE_VIEW = { name: "a b.txt", size: 5, content_type: "text/plain", updated_at: "2026-01-01T00:00:00Z" };

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("uploadFile with progress (XMLHttpRequest)", () => {
  it("sends the cookie, X-CSRF: 1 and the file's type to the encoded path, and reports progress", async () => {
    installFakeXhr();
    const api = createApi(new BffClient("https://bff.example"));
    const file = new File(["hello"], "a b.txt", { type: "text/plain" });
    const seen: number[] = [];
    const done = api.uploadFile(7, "a b.txt", file, { onProgress: ({ loaded, total }) => seen.push(loaded / total) });
    const xhr = await nextSent();
    expect(xhr.method).toBe("PUT");
    expect(xhr.url).toBe("https://bff.example/api/v1/projects/7/files/a%20b.txt");
    expect(xhr.withCredentials).toBe(true);
    expect(xhr.headers["x-csrf"]).toBe("1");
    expect(xhr.headers["content-type"]).toBe("text/plain");
    expect(xhr.body).toBe(file);
    xhr.progress(2, 5);
    xhr.answer(201, FILE_VIEW);
    await expect(done).resolves.toEqual(FILE_VIEW);
    expect(seen).toEqual([0.4, 1]);
  });

  it("turns a failed answer into the same ProblemError as fetch calls", async () => {
    installFakeXhr();
    const api = createApi(new BffClient());
    const done = api.uploadFile(1, "big.bin", new Blob(["x"]), { onProgress: () => undefined });
    const xhr = await nextSent();
    expect(xhr.headers["content-type"]).toBe("application/octet-stream");
    xhr.answer(413, { status: 413, code: "body_too_large", detail: "the body is too large" }, { "Retry-After": "7" });
    const error: unknown = await done.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProblemError);
    expect(error).toMatchObject({ status: 413, code: "body_too_large", detail: "the body is too large", retryAfter: 7 });
  });

  it("a network failure is network_error; an answer that is not JSON still has a code", async () => {
    installFakeXhr();
    const api = createApi(new BffClient());
    const failing = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined });
    (await nextSent()).onerror?.();
    await expect(failing).rejects.toMatchObject({ code: "network_error", status: 0 });
    const html = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined });
    const xhr = await nextSent(1);
    xhr.status = 502;
    xhr.responseText = "<html>bad gateway</html>";
    xhr.responseHeaders = { "content-type": "text/html" };
    xhr.onload?.();
    await expect(html).rejects.toMatchObject({ code: "http_502", status: 502 });
  });

  it("aborting the signal aborts the request and rejects with AbortError", async () => {
    installFakeXhr();
    const api = createApi(new BffClient());
    const controller = new AbortController();
    const done = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined, signal: controller.signal });
    const xhr = await nextSent();
    controller.abort();
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
    expect(xhr.aborted).toBe(true);
    // An already aborted signal sends nothing.
    const early = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined, signal: controller.signal });
    await expect(early).rejects.toMatchObject({ name: "AbortError" });
    expect(FakeXhr.sent).toHaveLength(1);
  });

  it("announces a session-ending answer and retries once after re-authentication", async () => {
    installFakeXhr();
    const client = new BffClient();
    const ended = vi.fn();
    client.onSessionEnded(ended);
    const api = createApi(client);
    const gone = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined });
    (await nextSent()).answer(401, { code: "session_revoked", detail: "ended" });
    await expect(gone).rejects.toMatchObject({ code: "session_revoked" });
    expect(ended).toHaveBeenCalledWith("session_revoked");

    const handler = vi.fn(() => Promise.resolve(true));
    client.setReauthHandler(handler);
    const retried = api.uploadFile(1, "a", new Blob(["x"]), { onProgress: () => undefined });
    (await nextSent(1)).answer(403, { code: "reauth_required", detail: "confirm" });
    (await nextSent(2)).answer(201, FILE_VIEW);
    await expect(retried).resolves.toEqual(FILE_VIEW);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it("without onProgress the upload stays a fetch call (the old signature works)", async () => {
    installFakeXhr();
    const { calls } = stubFetch(() => jsonResponse(FILE_VIEW, 201));
    await createApi(new BffClient()).uploadFile(2, "a b.txt", new Blob(["x"], { type: "text/plain" }));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.init.method).toBe("PUT");
    expect(FakeXhr.sent).toHaveLength(0);
  });
});

describe("downloadLink", () => {
  it("asks the BFF for a ticket for the file's /api path and returns its link", async () => {
    const { calls } = stubFetch(() => jsonResponse({ url: "/bff/downloads/k1.abc", expires_in: 60 }, 201));
    const link = await createApi(new BffClient()).downloadLink(3, "a b/c.txt");
    expect(link).toBe("/bff/downloads/k1.abc");
    expect(calls[0]?.url).toBe("/bff/downloads");
    expect(calls[0]?.init.method).toBe("POST");
    expect(calls[0]?.headers.get("X-CSRF")).toBe("1");
    expect(JSON.parse(calls[0]?.init.body as string)).toEqual({ path: "/api/v1/projects/3/files/a%20b%2Fc.txt" });
  });

  it("resolves the link against the BFF's origin for an app on another origin", async () => {
    stubFetch(() => jsonResponse({ url: "/base/bff/downloads/k1.abc", expires_in: 60 }, 201));
    const link = await createApi(new BffClient("https://api.example/base")).downloadLink(3, "a");
    expect(link).toBe("https://api.example/base/bff/downloads/k1.abc");
  });
});
