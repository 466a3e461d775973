/** Signing in: the session cookie's attributes, and no access or refresh token ever reaching the page. */
import { type Response, expect, test } from "@playwright/test";

import { SESSION_TOKEN, SIGNED_OUT, signIn, stack, unique } from "./support";

test.use({ storageState: SIGNED_OUT });

test("login sets an HttpOnly, Secure, SameSite=Strict session cookie and leaks no token", async ({
  page,
  context,
}) => {
  const reads: Promise<Received | null>[] = [];
  page.on("response", (response: Response) => {
    reads.push(responseText(response));
  });

  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  const before = Date.now() / 1000;
  await signIn(page, stack().accounts.member);

  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === stack().cookieName);
  expect(session, `cookies: ${cookies.map((c) => c.name).join(", ")}`).toBeDefined();
  expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/", domain: "127.0.0.1" });
  // Persistent until the session's absolute end (Max-Age/Expires), not a session-only cookie.
  expect(session!.expires).toBeGreaterThan(before + stack().sessionMaxAge - 60);
  expect(session!.expires).toBeLessThan(Date.now() / 1000 + stack().sessionMaxAge + 60);
  // The cookie holds no token (it is sealed; a session id and timestamps only).
  expect(session!.value).not.toMatch(/lk[aprs]_/);
  // HttpOnly: script cannot read it.
  expect(await page.evaluate(() => document.cookie)).not.toContain(stack().cookieName);

  // Everything the page received, /bff and /api answers included, is free of access and refresh tokens.
  await page.getByRole("link", { name: "My Profile" }).click();
  await expect(page.getByRole("heading", { name: "My Profile" })).toBeVisible();
  const received = (await Promise.all(reads)).filter((item): item is Received => item !== null);
  const answers = received.filter((item) => /^\/(bff|api)(\/|$)/.test(item.path));
  expect(answers.map((item) => item.path)).toContain("/bff/login");
  expect(answers.some((item) => item.path.startsWith("/api/"))).toBe(true);
  expect(answers.some((item) => item.text.includes(stack().accounts.member.email))).toBe(true);
  for (const item of received) {
    expect(item.text, item.path).not.toMatch(SESSION_TOKEN);
  }
  for (const item of answers) {
    expect(item.text, item.path).not.toMatch(/lk[ar]_/);
  }
});

test("wrong credentials are refused with a clear message", async ({ page }) => {
  await page.goto("/login");
  // An unknown account answers exactly like a wrong password, and locks no real account out when repeated.
  await page.getByRole("textbox", { name: "Email" }).fill(`${unique("nobody").replace(" ", "-")}@e2e.latchkey.test`);
  await page.getByLabel("Password", { exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("Wrong email or password");
  await expect(page).toHaveURL(/\/login$/);
});

interface Received {
  path: string;
  text: string;
}

/** A response's headers and body (event streams never end, so only their headers). */
async function responseText(response: Response): Promise<Received | null> {
  const url = new URL(response.url());
  const headers = await response.allHeaders().catch(() => ({}));
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
  const streaming = (headers as Record<string, string>)["content-type"]?.startsWith("text/event-stream");
  const body = streaming ? "" : await response.text().catch(() => "");
  return { path: url.pathname, text: `${head}\n\n${body}` };
}
