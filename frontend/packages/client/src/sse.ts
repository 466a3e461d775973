/**
 * Server-Sent Events over `fetch` and a ReadableStream. `EventSource` cannot send the `X-CSRF` header
 * the BFF requires, so the app reads `text/event-stream` itself: `SseParser` turns text chunks (split
 * anywhere, even inside a line or a CRLF) into events, and `openEventStream` keeps a stream open,
 * reconnecting with backoff until it is closed or the session ends.
 */
import type { BffClient } from "./client.js";
import { ProblemError } from "./problem.js";

export interface ServerSentEvent {
  /** The `event:` field, "message" when absent. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on this stream, if any. */
  id: string | undefined;
}

/** The event-stream format of the HTML standard (§9.2.6), fed with decoded text chunks. */
export class SseParser {
  private buffer = "";
  private eventType = "";
  private dataLines: string[] = [];
  private hasData = false;
  private started = false;
  lastEventId: string | undefined = undefined;
  /** The reconnection delay the server asked for with `retry:`, in milliseconds. */
  retry: number | undefined = undefined;

  /** Parse a chunk; returns the events it completed. */
  feed(chunk: string): ServerSentEvent[] {
    this.buffer += chunk;
    if (!this.started && this.buffer.length > 0) {
      this.started = true;
      if (this.buffer.startsWith("\uFEFF")) this.buffer = this.buffer.slice(1);
    }
    const events: ServerSentEvent[] = [];
    let lineStart = 0;
    let index = 0;
    while (index < this.buffer.length) {
      const char = this.buffer[index];
      if (char !== "\n" && char !== "\r") {
        index += 1;
        continue;
      }
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (char === "\r" && index + 1 === this.buffer.length) break;
      const line = this.buffer.slice(lineStart, index);
      index += char === "\r" && this.buffer[index + 1] === "\n" ? 2 : 1;
      lineStart = index;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(lineStart);
    return events;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null; // a comment (the core's heartbeats)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }

  private dispatch(): ServerSentEvent | null {
    const event: ServerSentEvent | null = this.hasData
      ? { event: this.eventType || "message", data: this.dataLines.join("\n"), id: this.lastEventId }
      : null;
    this.eventType = "";
    this.dataLines = [];
    this.hasData = false;
    return event;
  }
}

export interface EventStreamOptions {
  client: BffClient;
  path: string;
  onEvent: (event: ServerSentEvent) => void;
  /** Each (re)connection; nothing is replayed, so a reconnect is the moment to re-read the data. */
  onOpen?: (reconnected: boolean) => void;
  /** A failed attempt that will be retried. */
  onError?: (error: unknown) => void;
  /** Delays between attempts, in ms: doubling from `initialDelay` up to `maxDelay`, with jitter. */
  initialDelay?: number;
  maxDelay?: number;
}

export interface EventStreamHandle {
  close(): void;
  /** Settles when the stream stopped for good (closed, or the session ended). */
  readonly done: Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
    function finish(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    }
  });
}

async function readEvents(
  body: ReadableStream<Uint8Array>,
  parser: SseParser,
  onEvent: (event: ServerSentEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = (): void => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const event of parser.feed(decoder.decode(value, { stream: true }))) onEvent(event);
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

/** Follow an event stream until `close()` or until an answer says the session ended. */
export function openEventStream(options: EventStreamOptions): EventStreamHandle {
  const { client, path, onEvent, onOpen, onError } = options;
  const initialDelay = options.initialDelay ?? 1000;
  const maxDelay = options.maxDelay ?? 30_000;
  const controller = new AbortController();
  const { signal } = controller;
  const stopped = (): boolean => signal.aborted;
  const unsubscribe = client.onSessionEnded(() => controller.abort());

  async function run(): Promise<void> {
    let attempt = 0;
    let connectedBefore = false;
    while (!stopped()) {
      const parser = new SseParser();
      try {
        const response = await client.request(path, { accept: "text/event-stream", signal, reauth: false });
        if (!response.body) throw new Error("the event stream has no body");
        onOpen?.(connectedBefore);
        connectedBefore = true;
        attempt = 0;
        await readEvents(response.body, parser, onEvent, signal);
      } catch (error) {
        if (stopped()) break;
        if (error instanceof ProblemError && error.endsSession) break;
        onError?.(error);
      }
      if (stopped()) break;
      // The server closed the stream (heartbeat check, lagging) or the attempt failed: back off.
      const base = parser.retry ?? Math.min(maxDelay, initialDelay * 2 ** attempt);
      attempt += 1;
      await sleep(base / 2 + Math.random() * (base / 2), signal);
    }
    unsubscribe();
  }

  const done = run();
  return {
    close: () => controller.abort(),
    done,
  };
}
