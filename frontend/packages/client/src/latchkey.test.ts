import { describe, expect, it, vi } from "vitest";
import { createClient, webSocketUrl } from "./latchkey.js";
import { jsonResponse, stubFetch } from "./test-helpers.js";

describe("createClient", () => {
  it("sends every call to the base URL, with the cookie and X-CSRF", async () => {
    const { calls } = stubFetch(() => jsonResponse({ ok: true }));
    const client = createClient({ baseUrl: "https://api.example.test/auth/" });
    expect(client.baseUrl).toBe("https://api.example.test/auth");
    await client.api.getMe();
    await client.routes.json("get", "/api/v1/projects/{project_id}", { path: { project_id: 3 } });
    await client.http.json("/billing/invoices");
    expect(calls.map((call) => call.url)).toEqual([
      "https://api.example.test/auth/api/v1/me",
      "https://api.example.test/auth/api/v1/projects/3",
      "https://api.example.test/auth/billing/invoices",
    ]);
    for (const call of calls) {
      expect(call.init.credentials).toBe("include");
      expect(call.headers.get("X-CSRF")).toBe("1");
    }
  });

  it("reads an event stream over fetch from the base URL", async () => {
    const { calls } = stubFetch(
      () => new Response("event: ping\ndata: 1\n\n", { headers: { "Content-Type": "text/event-stream" } }),
    );
    const onEvent = vi.fn();
    const stream = createClient({ baseUrl: "https://api.example.test" }).events("/api/v1/events", { onEvent });
    await vi.waitFor(() => expect(onEvent).toHaveBeenCalledWith({ event: "ping", data: "1", id: undefined }));
    stream.close();
    await stream.done;
    expect(calls[0]?.url).toBe("https://api.example.test/api/v1/events");
    expect(calls[0]?.headers.get("Accept")).toBe("text/event-stream");
  });

  it("opens WebSockets on the BFF's origin, ws: or wss: as its scheme says", () => {
    const opened: string[] = [];
    vi.stubGlobal(
      "WebSocket",
      vi.fn(function (url: string) {
        opened.push(url);
      }),
    );
    createClient({ baseUrl: "https://api.example.test" }).webSocket("/live/ws");
    createClient({ baseUrl: "http://localhost:8000" }).webSocket("/api/v1/socket?x=1");
    expect(opened).toEqual(["wss://api.example.test/live/ws", "ws://localhost:8000/api/v1/socket?x=1"]);
  });

  it("resolves a same-origin WebSocket path against the page", () => {
    expect(webSocketUrl("/live/ws", "https://app.example.test/projects")).toBe("wss://app.example.test/live/ws");
    expect(webSocketUrl("/live/ws", "http://127.0.0.1:8000/")).toBe("ws://127.0.0.1:8000/live/ws");
  });

  it("builds the provider sign-in address, coming back to the given path", () => {
    const client = createClient({ baseUrl: "https://api.example.test" });
    expect(client.providerLoginUrl({ returnTo: "/projects" })).toBe(
      "https://api.example.test/bff/login/oidc?return_to=%2Fprojects",
    );
    expect(createClient().providerLoginUrl({ returnTo: "/" })).toBe("/bff/login/oidc?return_to=%2F");
  });
});
