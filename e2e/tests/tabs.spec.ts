/** Two tabs: logging out in one sends the other to the login page at once, and the old cookie is dead. */
import { expect, test } from "@playwright/test";

import { SIGNED_OUT, documentIsMarked, markDocument, signIn, stack } from "./support";

test.use({ storageState: SIGNED_OUT });

test("logout in one tab sends the other to /login without a reload; the old cookie gets 401", async ({
  page,
  context,
  playwright,
}) => {
  // A session of its own: the shared signed-in state of the other tests must survive this one.
  await signIn(page, stack().accounts.member);
  const other = await context.newPage();
  await other.goto("/profile");
  await expect(other.getByRole("heading", { name: "My Profile" })).toBeVisible();
  await markDocument(other);
  const cookie = (await context.cookies()).find((c) => c.name === stack().cookieName);
  expect(cookie).toBeDefined();

  await page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await expect(other).toHaveURL(/\/login$/);
  await expect(other.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(other.getByRole("alert")).toContainText("ended");
  expect(await documentIsMarked(other)).toBe(true);

  // Replaying the cookie from before the logout, outside the browser: the session is over server-side.
  const replay = await playwright.request.newContext();
  try {
    const headers = { Cookie: `${cookie!.name}=${cookie!.value}`, "X-CSRF": "1" };
    const session = await replay.get(`${stack().bff}/bff/session`, { headers });
    expect(session.status()).toBe(401);
    const api = await replay.get(`${stack().bff}/api/v1/me`, { headers });
    expect(api.status()).toBe(401);
    expect(((await api.json()) as { code: string }).code).toMatch(/^(session_revoked|no_session)$/);
  } finally {
    await replay.dispose();
  }
});
