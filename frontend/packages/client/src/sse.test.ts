import { describe, expect, it, vi } from "vitest";
import { parseProjectEvent } from "./api.js";
import { BffClient } from "./client.js";
import { openEventStream, SseParser, type ServerSentEvent } from "./sse.js";
import { problemResponse, stubFetch } from "./test-helpers.js";

const STREAM =
  ": connected\r\n\r\n" +
  "id: 1\r\nevent: project.created\r\ndata: {\"project\":{\"id\":1,\"name\":\"Ünïcode ✓\"}}\r\n\r\n" +
  ": heartbeat\n\n" +
  "id: 2\nevent: file.uploaded\ndata: first line\ndata:second line\n\n" +
  "data: no type\rid: 3\r\r" +
  "retry: 2500\nevent: ignored-without-data\n\n" +
  "data\n\n";

const EXPECTED: ServerSentEvent[] = [
  { event: "project.created", data: '{"project":{"id":1,"name":"Ünïcode ✓"}}', id: "1" },
  { event: "file.uploaded", data: "first line\nsecond line", id: "2" },
  { event: "message", data: "no type", id: "3" },
  { event: "message", data: "", id: "3" },
];

function parseInChunks(chunks: string[]): ServerSentEvent[] {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.feed(chunk));
}

describe("SseParser", () => {
  it("parses a whole stream: fields, comments, multi-line data, ids, CR/LF/CRLF endings", () => {
    const parser = new SseParser();
    expect(parser.feed(STREAM)).toEqual(EXPECTED);
    expect(parser.retry).toBe(2500);
  });

  it("gives the same events however the text is split into chunks", () => {
    for (let cut = 0; cut <= STREAM.length; cut += 1) {
      expect(parseInChunks([STREAM.slice(0, cut), STREAM.slice(cut)]), `cut at ${cut}`).toEqual(EXPECTED);
    }
    expect(parseInChunks(Array.from({ length: STREAM.length }, (_, i) => STREAM.charAt(i)))).toEqual(EXPECTED);
  });

  it("keeps an event incomplete until its blank line arrives", () => {
    const parser = new SseParser();
    expect(parser.feed("event: project.deleted\ndata: {}")).toEqual([]);
    expect(parser.feed("\n")).toEqual([]);
    expect(parser.feed("\n")).toEqual([{ event: "project.deleted", data: "{}", id: undefined }]);
  });

  it("strips a leading byte-order mark and only one space after the colon", () => {
    expect(new SseParser().feed("\uFEFFdata:  two spaces\n\n")).toEqual([
      { event: "message", data: " two spaces", id: undefined },
    ]);
  });
});

describe("parseProjectEvent", () => {
  it("accepts the core's event types only", () => {
    const data = JSON.stringify({ type: "project.updated", project: { id: 4, name: "X" } });
    expect(parseProjectEvent("project.updated", data)).toMatchObject({ type: "project.updated", project: { id: 4 } });
    expect(parseProjectEvent("message", data)).toBeNull();
    expect(parseProjectEvent("project.updated", "{broken")).toBeNull();
    expect(parseProjectEvent("project.updated", "{}")).toBeNull();
  });
});

/** A streamed body that sends `chunks` as bytes, cutting a multi-byte character in two. */
function streamOf(text: string): Response {
  const bytes = new TextEncoder().encode(text);
  const middle = bytes.indexOf(0xc3) + 1; // inside the two bytes of "Ü"
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, middle));
        controller.enqueue(bytes.slice(middle));
        controller.close();
      },
    }),
    { headers: { "Content-Type": "text/event-stream" } },
  );
}

describe("openEventStream", () => {
  it("reads events from a fetch stream, reconnects when it closes, and stops when the session ends", async () => {
    // Without its `retry:` field, which would make the client wait 2.5 s before reconnecting.
    const text = STREAM.replace("retry: 2500\n", "");
    const { calls } = stubFetch((_call, index) => (index < 2 ? streamOf(text) : problemResponse(401, "session_revoked")));
    const client = new BffClient();
    const ended = vi.fn();
    client.onSessionEnded(ended);
    const events: ServerSentEvent[] = [];
    const opens: boolean[] = [];
    const stream = openEventStream({
      client,
      path: "/api/v1/events",
      onEvent: (event) => events.push(event),
      onOpen: (reconnected) => opens.push(reconnected),
      initialDelay: 1,
      maxDelay: 2,
    });
    await stream.done;
    expect(events).toEqual([...EXPECTED, ...EXPECTED]);
    expect(opens).toEqual([false, true]);
    expect(calls).toHaveLength(3);
    expect(ended).toHaveBeenCalledWith("session_revoked");
    for (const call of calls) {
      expect(call.headers.get("X-CSRF")).toBe("1");
      expect(call.headers.get("Accept")).toBe("text/event-stream");
      expect(call.init.credentials).toBe("include");
    }
  });

  it("backs off and retries after errors, until closed", async () => {
    const { calls } = stubFetch(() => problemResponse(502, "upstream_unavailable"));
    const errors: unknown[] = [];
    const stream = openEventStream({
      client: new BffClient(),
      path: "/api/v1/events",
      onEvent: () => undefined,
      onError: (error) => errors.push(error),
      initialDelay: 1,
      maxDelay: 4,
    });
    await vi.waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(3));
    stream.close();
    await stream.done;
    const count = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls.length).toBe(count);
    expect(errors[0]).toMatchObject({ code: "upstream_unavailable" });
  });

  it("stops when another call announces that the session ended", async () => {
    const cancelled = vi.fn();
    stubFetch((call) => {
      if (call.url.endsWith("/events")) {
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode(": connected\n\n"));
            },
            cancel: cancelled,
          }),
        );
      }
      return problemResponse(401, "session_idle_expired");
    });
    const client = new BffClient();
    const opened = vi.fn();
    const stream = openEventStream({ client, path: "/api/v1/events", onEvent: () => undefined, onOpen: opened });
    await vi.waitFor(() => expect(opened).toHaveBeenCalled());
    await expect(client.json("/api/v1/me")).rejects.toMatchObject({ code: "session_idle_expired" });
    await stream.done; // settles without waiting for the server to close the stream
    expect(cancelled).toHaveBeenCalled();
  });
});
