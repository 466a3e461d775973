/** A second React app on another origin, built on `@latchkey/client` (SPEC §13; e2e/second-app).
 *
 * The app is served at http://localhost:18040, its BFF at http://localhost:18030: another origin of the same
 * site, listed in that BFF's LATCHKEY_ALLOWED_ORIGINS. Every call is a cross-origin fetch with CORS and the
 * cookie; the same files served from http://localhost:18041 (not listed) get nowhere.
 */
import { type Page, type Response, expect, test } from "@playwright/test";

import { SESSION_TOKEN, SIGNED_OUT, stack } from "./support";

test.use({ storageState: SIGNED_OUT });

async function signIn(page: Page, origin: string): Promise<void> {
  const member = stack().accounts.member;
  await page.goto(origin);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByRole("textbox", { name: "Email" }).fill(member.email);
  await page.getByLabel("Password").fill(member.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** The answer to the app's first call of `path` at its BFF. */
function answerTo(page: Page, path: string): Promise<Response> {
  return page.waitForResponse((r) => r.url() === `${stack().secondBff}${path}` && r.request().method() !== "OPTIONS");
}

test("from a listed origin, the app signs in and reads /api/v1/me through the BFF, with CORS and the cookie", async ({
  page,
  context,
}) => {
  const member = stack().accounts.member;
  const bodies: Promise<string>[] = [];
  page.on("response", (response) => bodies.push(response.text().catch(() => "")));

  const login = answerTo(page, "/bff/login");
  const me = answerTo(page, "/api/v1/me");
  await signIn(page, stack().secondApp);
  expect((await login).status()).toBe(200);
  await expect(page.getByRole("heading", { name: `Hello, ${member.name}` })).toBeVisible();
  await expect(page.getByRole("status", { name: "Who am I" })).toHaveText(`${member.email} (member)`);

  // The BFF answered the other origin by name, with credentials; never `*`.
  const answer = await me;
  expect(answer.status()).toBe(200);
  expect(answer.headers()["access-control-allow-origin"]).toBe(stack().secondApp);
  expect(answer.headers()["access-control-allow-credentials"]).toBe("true");
  expect(await answer.request().headerValue("x-csrf")).toBe("1");

  // The cookie is the BFF's: host-only, HttpOnly (the app's scripts never see it), Strict (the app is the
  // same site, so it goes along on the app's calls).
  const cookies = await context.cookies(stack().secondBff);
  expect(cookies.map((cookie) => cookie.name)).toEqual([stack().cookieName]);
  expect(cookies[0]).toMatchObject({ domain: "localhost", httpOnly: true, secure: true, sameSite: "Strict" });
  expect(await page.evaluate(() => document.cookie)).toBe("");

  // A reload finds the session again (the provider reads /bff/session), then signing out ends it.
  await page.reload();
  await expect(page.getByRole("status", { name: "Who am I" })).toHaveText(`${member.email} (member)`);
  const logout = answerTo(page, "/bff/logout");
  await page.getByRole("button", { name: "Sign out" }).click();
  expect((await logout).status()).toBe(204);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  const probe = await page.request.get(`${stack().secondBff}/bff/session`, { headers: { "X-CSRF": "1" } });
  expect(probe.status()).toBe(401);

  for (const body of await Promise.all(bodies)) expect(body).not.toMatch(SESSION_TOKEN);
});

test("the app calls the team's own API through a custom route of the BFF, which adds the session's token", async ({
  page,
}) => {
  await signIn(page, stack().secondApp);
  await expect(page.getByRole("status", { name: "Who am I" })).toContainText(stack().accounts.member.email);
  const echo = answerTo(page, "/echo-api/echo");
  await page.getByRole("button", { name: "Call the custom route" }).click();
  await expect(page.getByRole("status", { name: "Custom route" })).toHaveText(
    "GET /echo reached the upstream with a bearer token",
  );
  const answer = await echo;
  expect(answer.headers()["access-control-allow-origin"]).toBe(stack().secondApp);
  // What the upstream saw: the token the BFF added, and neither the browser's cookie nor its X-CSRF.
  const seen = (await answer.json()) as { headers: [string, string][] };
  const names = seen.headers.map(([name]) => name.toLowerCase());
  expect(names).toContain("authorization");
  expect(names).not.toContain("cookie");
  expect(names).not.toContain("x-csrf");
});

test("the app opens a WebSocket through the BFF and gets its echo", async ({ page }) => {
  await signIn(page, stack().secondApp);
  await expect(page.getByRole("status", { name: "Who am I" })).toContainText(stack().accounts.member.email);
  const socket = page.waitForEvent("websocket");
  await page.getByRole("button", { name: "Open the WebSocket" }).click();
  expect((await socket).url()).toBe(`${stack().secondBff.replace(/^http/, "ws")}/live/ws`);
  await expect(page.getByRole("status", { name: "WebSocket" })).toHaveText("hello through the BFF");
});

test("the same app on an unlisted origin is refused: no preflight granted, no sign-in, no cookie", async ({
  page,
  context,
  request,
}) => {
  // The browser's view: the session probe and the login are blocked by CORS, which the client reports
  // as a call that got no answer (the browser hides why).
  await signIn(page, stack().unlistedApp);
  await expect(page.getByRole("alert")).toHaveText(/^network_error: /);
  expect(await context.cookies(stack().secondBff)).toHaveLength(0);

  // The BFF's view: the preflight of the unlisted origin is 403 with no CORS headers, the listed one's 204.
  const preflight = (origin: string) =>
    request.fetch(`${stack().secondBff}/bff/login`, {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-csrf" },
    });
  const refused = await preflight(stack().unlistedApp);
  expect(refused.status()).toBe(403);
  expect(refused.headers()["access-control-allow-origin"]).toBeUndefined();
  const granted = await preflight(stack().secondApp);
  expect(granted.status()).toBe(204);
  expect(granted.headers()["access-control-allow-origin"]).toBe(stack().secondApp);

  // And a login sent anyway (a script, no browser to enforce CORS) from that origin is refused on its own.
  const member = stack().accounts.member;
  const forced = await request.post(`${stack().secondBff}/bff/login`, {
    headers: { Origin: stack().unlistedApp, "Sec-Fetch-Site": "same-site", "X-CSRF": "1" },
    data: { username: member.email, password: member.password },
  });
  expect(forced.status()).toBe(403);
  expect(((await forced.json()) as { code: string }).code).toBe("csrf_failed");
});
