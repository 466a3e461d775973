/** Sign-in through the OpenID Provider (SPEC §11), in Chromium against the real provider (e2e/oidc/provider.mjs):
 * its own login and logout pages, the BFF's callback, RP-initiated and back-channel logout, re-authentication
 * with `prompt=login`, and two tabs signing in at once. */
import { type Page, expect, test } from "@playwright/test";

import {
  PAT,
  SIGNED_OUT,
  coreStatusWith,
  expectProviderLogin,
  signInAtProvider,
  stack,
  startProviderSignIn,
  unique,
} from "./support";

test.use({ storageState: SIGNED_OUT });

/** The status of `GET /bff/session`, asked by the page itself (same origin, its cookie). */
function sessionStatus(page: Page): Promise<number> {
  return page.evaluate(() => fetch("/bff/session", { headers: { "X-CSRF": "1" } }).then((answer) => answer.status));
}

test("the login page offers both ways in; the provider's pages sign in and land on the page asked for", async ({
  page,
}) => {
  const { accounts, provider } = stack();
  await page.goto("/sessions");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("textbox", { name: "Email" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign in", exact: true })).toBeVisible();

  await startProviderSignIn(page);
  await expect(page).toHaveTitle(new RegExp(provider.name));
  await signInAtProvider(page, accounts.member);
  await expect(page).toHaveURL(`${stack().bff}/sessions`);
  await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
  await expect(page.getByText(accounts.member.email).first()).toBeVisible();
});

test("cancelling at the provider, and every error code of the callback, say what happened", async ({ page }) => {
  const { provider } = stack();
  await page.goto("/login");
  await startProviderSignIn(page);
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page).toHaveURL(/\/login\?error=login_cancelled$/);
  await expect(page.getByRole("alert")).toHaveText(`Sign-in was cancelled at ${provider.name}. You are not signed in.`);

  const expected: Record<string, string> = {
    login_failed: `Signing in through ${provider.name} did not work`,
    login_expired: "That sign-in took too long or was already used. Start again.",
    provider_unavailable: `${provider.name} cannot be reached right now. Try again in a moment.`,
  };
  for (const [code, message] of Object.entries(expected)) {
    await page.goto(`/login?error=${code}`);
    await expect(page.getByRole("alert")).toContainText(message);
    await expect(page.getByRole("button", { name: `Sign in with ${provider.name}` })).toBeVisible();
  }
});

test("an account the provider brought has no password: My Profile says so and offers no password change", async ({
  page,
}) => {
  const { accounts, provider } = stack();
  await page.goto("/profile");
  await startProviderSignIn(page);
  await signInAtProvider(page, accounts.newcomer);
  await expect(page).toHaveURL(`${stack().bff}/profile`);
  await expect(page.getByRole("heading", { name: "My Profile" })).toBeVisible();
  await expect(page.getByRole("definition").filter({ hasText: "(no password)" })).toHaveText(
    `Through ${provider.name} (no password)`,
  );
  await expect(page.getByRole("heading", { name: "Developer Settings" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Change password" })).toHaveCount(0);
});

test("a token is created after re-authenticating at the provider with prompt=login", async ({ page, request }) => {
  const { peerBff, reauthWindow, accounts, provider } = stack();
  // The peer BFF's core has the short re-auth window.
  await page.goto(`${peerBff}/profile/developer-settings`);
  await startProviderSignIn(page);
  await signInAtProvider(page, accounts.member);
  await expect(page).toHaveURL(`${peerBff}/profile/developer-settings`);
  const signedInAt = Date.now();
  await expect(page.getByRole("heading", { name: "Personal access tokens" })).toBeVisible();

  const name = unique("after-provider");
  async function createToken(): Promise<void> {
    await page.getByRole("button", { name: "Generate new token" }).click();
    await page.getByRole("textbox", { name: "Token name" }).fill(name);
    await page.getByRole("checkbox", { name: "projects:read", exact: true }).check();
    await page.getByRole("button", { name: "Generate token", exact: true }).click();
  }
  await page.waitForTimeout(Math.max(0, signedInAt + (reauthWindow + 1) * 1000 - Date.now()));
  await createToken();

  // This session came from the provider: a password would be refused (409), the provider confirms.
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  const started = page.waitForRequest((sent) => {
    const url = new URL(sent.url());
    return (
      url.origin === peerBff &&
      url.pathname === "/bff/login/oidc" &&
      url.searchParams.get("prompt") === "login" &&
      url.searchParams.get("return_to") === "/profile/developer-settings"
    );
  });
  await dialog.getByRole("button", { name: `Confirm with ${provider.name}` }).click();
  await started;
  // prompt=login: the provider asks for the password although it has a session of its own.
  await expectProviderLogin(page);
  await signInAtProvider(page, accounts.member);
  await expect(page).toHaveURL(`${peerBff}/profile/developer-settings`);

  await createToken();
  const shown = page.getByRole("textbox", { name: "New token" });
  await expect(shown).toHaveValue(PAT);
  await expect(page.getByRole("dialog")).toBeHidden();
  expect(await coreStatusWith(request, await shown.inputValue())).toBe(200);
  // My Profile says the account signs in both ways (the token's page no longer shows the profile).
  await page.goto(`${peerBff}/profile`);
  await expect(page.getByRole("definition").filter({ hasText: "With a password or through" })).toBeVisible();
});

test("logout ends the provider's session too: signing in again asks for the password there", async ({ page }) => {
  const { accounts, bff } = stack();
  await page.goto("/projects");
  await startProviderSignIn(page);
  await signInAtProvider(page, accounts.developer);
  await expect(page).toHaveURL(`${bff}/projects`);
  await expect(page.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();

  await page.getByRole("button", { name: "Log out" }).click();
  // RP-Initiated Logout: the provider's own confirmation, then back to the app.
  await page.getByRole("button", { name: "Yes, sign me out" }).click();
  await expect(page).toHaveURL(`${bff}/login`);
  expect(await sessionStatus(page)).toBe(401);

  await startProviderSignIn(page);
  await signInAtProvider(page, accounts.developer);
  await expect(page).toHaveURL(`${bff}/projects`);
});

test("a back-channel logout from the provider ends the session on both BFF instances within 2 s", async ({
  context,
}) => {
  const { accounts, bff, peerBff, provider } = stack();
  const main = await context.newPage();
  await main.goto(`${bff}/projects`);
  await startProviderSignIn(main);
  await signInAtProvider(main, accounts.developer);
  await expect(main.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();
  // The same cookie, at the other instance (same session database and key ring).
  const peer = await context.newPage();
  await peer.goto(`${peerBff}/projects`);
  await expect(peer.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();
  expect(await sessionStatus(main)).toBe(200);
  expect(await sessionStatus(peer)).toBe(200);

  // The user signs out at the provider itself (not through the app): it POSTs a logout token to the main BFF.
  const providerPage = await context.newPage();
  await providerPage.goto(`${provider.issuer}/session/end?client_id=${provider.clientId}`);
  const confirm = providerPage.getByRole("button", { name: "Yes, sign me out" });
  await expect(confirm).toBeVisible();
  const started = Date.now();
  await confirm.click();
  await expect
    .poll(async () => [await sessionStatus(main), await sessionStatus(peer)], { timeout: 2_000, intervals: [100] })
    .toEqual([401, 401]);
  expect(Date.now() - started).toBeLessThan(2_000);
  // Each app notices at its next call and goes back to the login page.
  await peer.goto(`${peerBff}/sessions`);
  await expect(peer).toHaveURL(/\/login$/);
});

test("two tabs signing in through the provider at once both succeed", async ({ context }) => {
  const { accounts, bff } = stack();
  const first = await context.newPage();
  const second = await context.newPage();
  await first.goto(`${bff}/projects`);
  await second.goto(`${bff}/sessions`);
  // Both flows start before either ends: two flow cookies, two states.
  await startProviderSignIn(first);
  await startProviderSignIn(second);
  await signInAtProvider(first, accounts.member);
  await expect(first).toHaveURL(`${bff}/projects`);
  await signInAtProvider(second, accounts.member);
  await expect(second).toHaveURL(`${bff}/sessions`);
  for (const page of [first, second]) {
    await expect(page.getByText("login_expired")).toHaveCount(0);
    expect(await sessionStatus(page)).toBe(200);
  }
  await expect(second.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
});
