/**
 * The login page's feedback (issue 14, items 5 and 10): a warning before the last attempts, a live
 * countdown during the lockout that gives the button back at zero, focus on the error; and a password
 * change that ends another browser's session at once, which its login page explains. Fresh accounts
 * only: the shared ones are never locked out nor given a new password.
 */
import { type Page, expect, test } from "@playwright/test";

import { VIEWPORTS, audit, auditBoth, expectFocusNamed } from "./audit";
import { type Account, SIGNED_OUT, freshAccount, signIn, stack } from "./support";

test.use({ storageState: SIGNED_OUT });
// Several browsers signing in, and an audit per state: more than the default 30 s on a busy machine.
test.slow();

async function tryPassword(page: Page, account: Account, password: string): Promise<void> {
  await page.getByRole("textbox", { name: "Email" }).fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test("failed logins warn before the lockout, which counts down and gives the button back", async ({ page, request }) => {
  const account = await freshAccount(request);
  await page.clock.install();
  await page.goto("/login");
  const failure = page.getByLabel("Sign-in failed");
  const alert = page.getByRole("alert");
  const signInButton = page.getByRole("button", { name: "Sign in", exact: true });
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.setViewportSize(VIEWPORTS.phone);
  await audit(page, "login (phone)");
  await page.setViewportSize(VIEWPORTS.desktop);
  await audit(page, "login (desktop)");

  for (const attempt of [1, 2]) {
    await tryPassword(page, account, `wrong ${attempt}`);
    await expect(alert).toHaveText("Wrong email or password.");
    await expect(failure).toBeFocused();
  }
  await tryPassword(page, account, "wrong 3");
  await expect(alert).toHaveText("Wrong email or password. 2 attempts left before a 15-minute lockout.");
  await tryPassword(page, account, "wrong 4");
  await expect(alert).toHaveText("Wrong email or password. 1 attempt left before a 15-minute lockout.");
  // Focus is on the error, a named element, so a screen reader reads it first.
  await expect(failure).toBeFocused();
  await expectFocusNamed(page, "after a failed login");
  await auditBoth(page, "login warning");

  await tryPassword(page, account, "wrong 5");
  await expect(alert).toContainText("Too many failed attempts");
  const countdown = failure.getByText(/^Try again in/);
  await expect(countdown).toHaveText(/Try again in 1[45]:\d\d \(minutes and seconds\)\.$/);
  await expect(signInButton).toBeDisabled();
  await expect(failure).toBeFocused();
  await audit(page, "login lockout (desktop)");
  await page.setViewportSize(VIEWPORTS.phone);
  await audit(page, "login lockout (phone)");

  // It counts down live…
  const before = await countdown.textContent();
  await page.clock.fastForward("01:00");
  await expect(countdown).not.toHaveText(before ?? "");
  await expect(countdown).toHaveText(/Try again in 1[34]:\d\d/);
  // …and at zero the button comes back.
  await page.clock.fastForward("15:00");
  await expect(failure.getByRole("status")).toHaveText("You can try again now.");
  await expect(signInButton).toBeEnabled();
});

test("a password change ends another browser's session at once, and its login page says why", async ({
  page,
  browser,
  request,
}) => {
  const account = await freshAccount(request);
  const other = await browser.newContext({ baseURL: stack().bff, storageState: SIGNED_OUT });
  try {
    const otherPage = await other.newPage();
    await signIn(otherPage, account);
    await signIn(page, account);
    await page.goto("/sessions");
    await expect(page.getByRole("button", { name: /^End session on / })).toHaveCount(1);

    // The change through the BFF, as the profile page makes it (just signed in: no re-authentication).
    const changed = await page.request.post("/api/v1/me/password", {
      headers: { "X-CSRF": "1" },
      data: { current_password: account.password, new_password: `${account.password}-new` },
    });
    expect(changed.status(), await changed.text()).toBe(204);

    // This browser's list shows it alone at once; the other browser is signed out before it calls again.
    await page.reload();
    await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
    await expect(page.getByRole("button", { name: /^End session on / })).toHaveCount(0);
    await otherPage.reload();
    await expect(otherPage).toHaveURL(/\/login$/);
    await expect(otherPage.getByRole("alert")).toContainText("Your password was changed in another session");
    await audit(otherPage, "login after a password change elsewhere");
  } finally {
    await other.close();
  }
});
