import { describe, expect, it } from "vitest";
import { BffClient } from "./client.js";
import { createRoutes, routeUrl } from "./routes.js";
import { jsonResponse, stubFetch } from "./test-helpers.js";

describe("routeUrl", () => {
  it("fills each placeholder with its percent-encoded value", () => {
    expect(routeUrl("/api/v1/projects/{project_id}/files/{name}", { project_id: 7, name: "../a b/c.txt" })).toBe(
      "/api/v1/projects/7/files/..%2Fa%20b%2Fc.txt",
    );
  });

  it("adds the query in order, leaving out absent values", () => {
    expect(routeUrl("/api/v1/projects", {}, { limit: 100, cursor: "c/1 2" })).toBe(
      "/api/v1/projects?limit=100&cursor=c%2F1%202",
    );
    expect(routeUrl("/api/v1/projects", {}, { limit: 100, cursor: null })).toBe("/api/v1/projects?limit=100");
    expect(routeUrl("/bff/logout", {}, {})).toBe("/bff/logout");
  });

  it("refuses a route whose placeholder has no value", () => {
    expect(() => routeUrl("/api/v1/projects/{project_id}")).toThrow(TypeError);
  });
});

describe("createRoutes", () => {
  it("calls the route's URL with its method, and answers the parsed JSON", async () => {
    const { calls } = stubFetch(() => jsonResponse({ id: 3, name: "Beta" }));
    const routes = createRoutes(new BffClient());
    const project = await routes.json("patch", "/api/v1/projects/{project_id}", {
      path: { project_id: 3 },
      json: { name: "Beta" },
    });
    expect(project).toEqual({ id: 3, name: "Beta" });
    expect(calls[0]?.url).toBe("/api/v1/projects/3");
    expect(calls[0]?.init.method).toBe("PATCH");
    expect(calls[0]?.headers.get("Accept")).toBe("application/json");
    expect(JSON.parse(calls[0]?.init.body as string)).toEqual({ name: "Beta" });
  });

  it("passes the client's own options through", async () => {
    const { calls } = stubFetch(() => new Response(null, { status: 204 }));
    await createRoutes(new BffClient()).send204("post", "/bff/logout", { query: { everywhere: "true" }, reauth: false });
    expect(calls[0]?.url).toBe("/bff/logout?everywhere=true");
    expect(calls[0]?.init.method).toBe("POST");
    expect(calls[0]?.init.body).toBeUndefined();
  });
});
