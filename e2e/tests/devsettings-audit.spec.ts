/**
 * Developer Settings and My Profile in their main states, at desktop and phone size: axe finds nothing,
 * nothing scrolls sideways, every control (row actions included) is in view, focus lands on named elements.
 * Each test uses an account of its own, so the states (an empty list, a password error) are its own.
 */
import { type Page, expect, test } from "@playwright/test";

import { VIEWPORTS, auditBoth, expectFocusNamed } from "./audit";
import { CLIENT_SECRET, PAT, SIGNED_OUT, freshAccount, signIn, unique } from "./support";

test.use({ storageState: SIGNED_OUT });


async function generate(page: Page, name: string, days: string): Promise<void> {
  await page.getByRole("button", { name: "Generate new token" }).click();
  await page.getByRole("textbox", { name: "Token name" }).fill(name);
  await page.getByRole("checkbox", { name: "profile", exact: true }).check();
  await page.getByRole("spinbutton", { name: "Expires in (days)" }).fill(days);
  await page.getByRole("button", { name: "Generate token", exact: true }).click();
}

test("Developer Settings: empty, form, new token, list, confirm dialog, client secret revealed", async ({
  page,
  request,
}) => {
  test.slow(); // ten axe runs on a shared machine
  const developer = await freshAccount(request, { developer: true });
  await signIn(page, developer);
  await page.goto("/profile/developer-settings");
  const table = page.getByRole("table", { name: "Personal access tokens" });
  await expect(table.getByText("No personal access tokens yet.")).toBeVisible();
  await expect(page.getByRole("textbox", { name: "Client secret" })).toHaveAccessibleDescription(/Never used$/);
  await auditBoth(page, "empty list");

  await page.getByRole("button", { name: "Generate new token" }).click();
  await expect(page.getByRole("textbox", { name: "Token name" })).toBeFocused();
  await auditBoth(page, "generate form open");
  // Cancel closes the form and gives the focus back to the button that opened it.
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("button", { name: "Generate new token" })).toBeFocused();

  const soon = unique("nightly");
  await generate(page, soon, "1");
  await expect(page.getByRole("textbox", { name: "New token" })).toHaveValue(PAT);
  expect(await expectFocusNamed(page, "new token shown")).toBe("input:New token");
  await auditBoth(page, "new token shown");

  // A token that expires tomorrow says so, as a warning; one far away carries no warning.
  const row = (name: string) => table.getByRole("row").filter({ hasText: name });
  await expect(row(soon).getByText("Expires tomorrow")).toHaveClass(/badge-warning/);
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByRole("heading", { name: "Personal access tokens" })).toBeFocused();
  const later = unique("release");
  await generate(page, later, "90");
  await expect(row(later).getByText("Expires in 90 days")).not.toHaveClass(/badge-warning/);
  await page.getByRole("button", { name: "Done" }).click();
  await auditBoth(page, "list");

  // On a phone the rows are cards: each row's actions are on screen (checked by the audit too).
  await page.setViewportSize(VIEWPORTS.phone);
  for (const name of [soon, later]) {
    for (const action of ["Refresh", "Revoke"]) {
      const button = page.getByRole("button", { name: `${action} token ${name}`, exact: true });
      await button.scrollIntoViewIfNeeded();
      // Wholly within the width (no sideways scroll to reach it); vertically it is scrolled to.
      const box = (await button.boundingBox()) ?? { x: -1, width: 0 };
      expect(box.x, `${action} ${name}: left edge on screen`).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, `${action} ${name}: right edge on screen`).toBeLessThanOrEqual(VIEWPORTS.phone.width);
      await expect(button).toBeInViewport({ ratio: 0.9 });
    }
  }
  await page.setViewportSize(VIEWPORTS.desktop);

  await page.getByRole("button", { name: `Revoke token ${soon}`, exact: true }).click();
  await expect(page.getByRole("dialog", { name: `Revoke token ${soon}?` })).toBeVisible();
  await auditBoth(page, "revoke dialog open");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("button", { name: `Revoke token ${soon}`, exact: true })).toBeFocused();

  await page.getByRole("button", { name: "Reveal client secret" }).click();
  await expect(page.getByRole("textbox", { name: "Client secret" })).toHaveValue(CLIENT_SECRET);
  await auditBoth(page, "client secret revealed");
});

test("refreshing or generating while a new token is not yet copied asks first", async ({ page, request }) => {
  const member = await freshAccount(request);
  await signIn(page, member);
  await page.goto("/profile/developer-settings");
  const first = unique("first");
  await generate(page, first, "30");
  const shown = page.getByRole("textbox", { name: "New token" });
  await expect(shown).toHaveValue(PAT);
  const value = await shown.inputValue();

  // Generating another: a dialog says the token shown will not be shown again; cancel keeps it.
  const second = unique("second");
  await generate(page, second, "30");
  const replace = page.getByRole("dialog", { name: "Generate another token?" });
  await expect(replace).toContainText(`The new token ${first} shown on this page has not been copied`);
  await expect(replace).toContainText("it will not be shown again");
  await auditBoth(page, "replace dialog open");
  await replace.getByRole("button", { name: "Cancel" }).click();
  await expect(shown).toHaveValue(value);

  // The refresh dialog carries the same warning.
  await page.getByRole("button", { name: `Refresh token ${first}`, exact: true }).click();
  const refresh = page.getByRole("dialog", { name: `Refresh token ${first}?` });
  await expect(refresh).toContainText("has not been copied: it will not be shown again");
  await refresh.getByRole("button", { name: "Cancel" }).click();

  // Once copied (here with the keyboard in the field), generating asks nothing.
  await shown.focus();
  await page.keyboard.press("ControlOrMeta+C");
  await page.getByRole("button", { name: "Generate token", exact: true }).click();
  await expect(replace).toBeHidden();
  await expect(shown).not.toHaveValue(value);
  await expect(page.getByRole("table", { name: "Personal access tokens" }).getByText(second)).toBeVisible();
  // And the refresh dialog no longer warns about it... until this new one is replaced uncopied.
  await page.getByRole("button", { name: `Refresh token ${first}`, exact: true }).click();
  await expect(refresh).toContainText(`The new token ${second} shown on this page has not been copied`);
});

test("My Profile: password errors at their fields, the summary, and a change that works", async ({
  page,
  request,
}) => {
  test.slow(); // four axe runs and four password checks (Argon2) on a shared machine
  const account = await freshAccount(request, { developer: true });
  await signIn(page, account);
  await page.goto("/profile");
  await expect(page).toHaveTitle(/^My Profile/);
  const current = page.getByLabel("Current password", { exact: true });
  const next = page.getByLabel("New password", { exact: true });
  // The rule is shown before any submit, tied to the field.
  await expect(next).toHaveAccessibleDescription("At least 8 characters, different from the current one.");
  const summary = page.getByRole("region", { name: "Developer Settings" });
  await expect(summary.getByRole("definition").first()).toHaveText("0 active");
  await expect(summary.getByText(/created .* · never used/)).toBeVisible();
  await auditBoth(page, "profile");

  const submit = page.getByRole("button", { name: "Change password" });
  // Empty: both fields in error; focus on the first.
  await submit.click();
  await expect(current).toHaveAttribute("aria-invalid", "true");
  await expect(current).toHaveAccessibleDescription("Enter your current password.");
  await expect(current).toBeFocused();
  await auditBoth(page, "password errors");

  // Too short: the new field, focused.
  await current.fill(account.password);
  await next.fill("short");
  await submit.click();
  await expect(current).not.toHaveAttribute("aria-invalid", "true");
  await expect(next).toHaveAttribute("aria-invalid", "true");
  await expect(next).toHaveAccessibleDescription(/^Use at least 8 characters\./);
  await expect(next).toBeFocused();

  // Wrong current password: the core says so, at the current field.
  await current.fill("not the password at all");
  await next.fill("a brand new passphrase");
  await submit.click();
  await expect(current).toHaveAccessibleDescription("The current password is wrong.");
  await expect(current).toBeFocused();
  await expect(next).not.toHaveAttribute("aria-invalid", "true");

  // The same password again: refused at the new field.
  await current.fill(account.password);
  await next.fill(account.password);
  await submit.click();
  await expect(next).toHaveAccessibleDescription(/^The new password is the same as the current one/);
  await expect(next).toBeFocused();

  await next.fill("a brand new passphrase");
  await submit.click();
  await expect(page.getByRole("status", { name: "Password changed" })).toBeVisible();
  await expect(current).not.toHaveAttribute("aria-invalid", "true");
  await expect(next).not.toHaveAttribute("aria-invalid", "true");
});
