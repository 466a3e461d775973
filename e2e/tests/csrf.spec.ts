/** Cross-site request forgery: a page on another origin cannot make the signed-in browser write anything.
 *
 * The attacker's page is served from another port of the same host: same-site, so even the SameSite=Strict
 * cookie goes along. The BFF must refuse on its own (X-CSRF + preflight, Sec-Fetch-Site, Origin).
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { type APIRequestContext, type Response, expect, test } from "@playwright/test";

import { createPat, stack, unique } from "./support";

let attacker: Server;
let attackerOrigin: string;

test.beforeAll(async () => {
  attacker = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end("<!doctype html><title>Win a prize</title><h1>Win a prize</h1>");
  });
  await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
  attackerOrigin = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => attacker.close(resolve));
});

/** The member's project names, straight from the core. */
async function coreProjectNames(request: APIRequestContext, pat: string): Promise<string[]> {
  const listed = await request.get(`${stack().core}/v1/projects?limit=100`, {
    headers: { Authorization: `Bearer ${pat}` },
  });
  expect(listed.status()).toBe(200);
  return ((await listed.json()) as { items: { name: string }[] }).items.map((project) => project.name).sort();
}

test("a cross-origin POST to the API is refused and changes nothing", async ({ page, request }) => {
  const name = unique("Forged");
  const pat = await createPat(request, stack().accounts.member, ["projects:read", "projects:write"]);
  // A project that does exist, so the page below visibly has its list loaded.
  const canary = unique("Canary");
  const made = await request.post(`${stack().core}/v1/projects`, {
    headers: { Authorization: `Bearer ${pat}` },
    data: { name: canary },
  });
  expect(made.status()).toBe(201);
  const before = await coreProjectNames(request, pat);
  await page.goto(attackerOrigin);

  // 1. A fetch with the custom header: the browser must preflight it, and the BFF refuses the preflight,
  //    so the POST itself is never sent.
  const withHeader = await page.evaluate(
    async ({ bff, name }) => {
      try {
        const answer = await fetch(`${bff}/api/v1/projects`, {
          method: "POST",
          credentials: "include",
          headers: { "Content-Type": "application/json", "X-CSRF": "1" },
          body: JSON.stringify({ name }),
        });
        return `sent: ${answer.status}`;
      } catch {
        return "blocked";
      }
    },
    { bff: stack().bff, name },
  );
  expect(withHeader).toBe("blocked");

  // 2. A "simple" request (no preflight): sent with the cookie, refused by the BFF itself.
  const isForgedPost = (r: Response) => r.url().endsWith("/api/v1/projects") && r.request().method() === "POST";
  const simple = page.waitForResponse(isForgedPost);
  await page.evaluate(
    ({ bff, name }) =>
      fetch(`${bff}/api/v1/projects`, {
        method: "POST",
        mode: "no-cors",
        credentials: "include",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ name }),
      }).catch(() => undefined),
    { bff: stack().bff, name },
  );
  expect((await simple).status()).toBe(403);

  // 3. A classic auto-submitted form: the browser navigates to the BFF's refusal.
  const navigation = page.waitForResponse(isForgedPost);
  await page.evaluate(
    ({ bff, name }) => {
      const form = document.createElement("form");
      form.method = "POST";
      form.action = `${bff}/api/v1/projects`;
      form.enctype = "text/plain";
      const field = document.createElement("input");
      field.name = `{"name": "${name}", "description": "`;
      field.value = '"}';
      form.append(field);
      document.body.append(form);
      form.submit();
    },
    { bff: stack().bff, name },
  );
  const refused = await navigation;
  expect(refused.status()).toBe(403);
  // The cookie did go along (same-site): the refusal is the BFF's CSRF check, not SameSite.
  expect(await refused.request().headerValue("cookie")).toContain(stack().cookieName);
  expect(await refused.text()).toContain("csrf_failed");

  // Nothing changed: not at the core, not in the app.
  expect(await coreProjectNames(request, pat)).toEqual(before);
  await page.goto(`${stack().bff}/projects`);
  const list = page.getByRole("list", { name: "Projects" });
  await expect(list.getByRole("listitem").filter({ hasText: canary })).toBeVisible();
  await expect(list.getByRole("listitem").filter({ hasText: name })).toHaveCount(0);
});
