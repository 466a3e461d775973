/**
 * An upload that reports its progress: `fetch()` cannot tell how much of a request body has been sent, so
 * this one request goes through XMLHttpRequest, on the same terms as every other call (the session cookie
 * with `withCredentials`, `X-CSRF: 1`, an AbortSignal) and with the same typed failures (`ProblemError`).
 */
import { networkError, problemFromBody, type ProblemError } from "./problem.js";

/** How far an upload has got: bytes sent of the total (the body's size when the browser gives none). */
export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface UploadOptions {
  method?: string;
  /** The body's Content-Type (default: the Blob's own, else application/octet-stream). */
  contentType?: string;
  /** Called as the body goes out (the browser decides how often), and once at 100 %. */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborting rejects with a DOMException named "AbortError", as fetch does. */
  signal?: AbortSignal;
}

/** What came back: a status, and the parsed body (JSON) or null. */
export interface UploadAnswer {
  status: number;
  body: unknown;
  /** Seconds from `Retry-After`, when present. */
  retryAfter: number | undefined;
}

function abortError(): DOMException {
  return new DOMException("The upload was cancelled.", "AbortError");
}

function parseBody(xhr: XMLHttpRequest): unknown {
  const type = xhr.getResponseHeader("Content-Type") ?? "";
  if (!/^application\/(problem\+)?json/i.test(type) || !xhr.responseText) return null;
  try {
    return JSON.parse(xhr.responseText) as unknown;
  } catch {
    return null;
  }
}

/** Send `body` to `url` by XMLHttpRequest; resolves with any answer, rejects only when none came. */
export function sendWithProgress(url: string, body: Blob, options: UploadOptions = {}): Promise<UploadAnswer> {
  return new Promise<UploadAnswer>((resolve, reject) => {
    const { signal, onProgress } = options;
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    const total = body.size;
    const onAbort = () => xhr.abort();
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.open(options.method ?? "PUT", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("X-CSRF", "1");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Content-Type", options.contentType ?? (body.type || "application/octet-stream"));
    if (onProgress) {
      xhr.upload.onprogress = (event) => {
        onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : total });
      };
    }
    xhr.onload = () => {
      done();
      if (onProgress) onProgress({ loaded: total, total });
      const raw = xhr.getResponseHeader("Retry-After")?.trim();
      resolve({
        status: xhr.status,
        body: parseBody(xhr),
        retryAfter: raw && /^\d+$/.test(raw) ? Number(raw) : undefined,
      });
    };
    xhr.onerror = () => {
      done();
      reject(networkError(new Error("XMLHttpRequest failed")));
    };
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => {
      done();
      reject(abortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    xhr.send(body);
  });
}

/** A failed answer as the `ProblemError` fetch calls would have thrown. */
export function uploadProblem(answer: UploadAnswer): ProblemError {
  return problemFromBody(answer.status, answer.body, answer.retryAfter);
}
