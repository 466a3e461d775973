/** Developer Settings: a personal access token's whole life, driven through the UI, checked at the core. */
import { type Page, expect, test } from "@playwright/test";

import { expectFocusNamed } from "./audit";
import { PAT, coreStatusWith, stack, unique } from "./support";

function tokenRow(page: Page, name: string) {
  return page.getByRole("table", { name: "Personal access tokens" }).getByRole("row").filter({ hasText: name });
}

test("create, copy, refresh and revoke a personal access token, each confirmed", async ({
  page,
  context,
  request,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack().bff });
  await page.goto("/profile/developer-settings");
  await expect(page.getByRole("heading", { level: 1, name: "Developer Settings" })).toBeVisible();
  await expect(page).toHaveTitle(/^Developer Settings/);
  const list = page.getByRole("heading", { name: "Personal access tokens" });
  await expect(list).toBeVisible();
  const name = unique("ci-deploy");

  // The list comes first; "Generate new token" opens the form below it, its name field focused.
  await page.getByRole("button", { name: "Generate new token" }).click();
  await expect(page.getByRole("textbox", { name: "Token name" })).toBeFocused();
  await page.getByRole("textbox", { name: "Token name" }).fill(name);
  await page.getByRole("checkbox", { name: "projects:read", exact: true }).check();
  const days = page.getByRole("spinbutton", { name: "Expires in (days)" });
  await days.fill("7");
  // The field previews the date (its description, so a screen reader hears it too).
  await expect(days).toHaveAccessibleDescription(/^Expires on .*\d{4}/);
  await page.getByRole("button", { name: "Generate token", exact: true }).click();
  const shown = page.getByRole("textbox", { name: "New token" });
  await expect(shown).toHaveValue(PAT);
  await expect(shown).toBeFocused();
  await expect(page.getByText("Copy it now: it will not be shown again.")).toBeVisible();
  const first = await shown.inputValue();
  await expect(tokenRow(page, name)).toBeVisible();
  // Seven days ahead: a warning badge.
  await expect(tokenRow(page, name).getByText("Expires in 7 days")).toHaveClass(/badge-warning/);

  // Copy puts exactly the token on the clipboard.
  await page.getByRole("button", { name: "Copy token" }).click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(first);
  expect(await coreStatusWith(request, first)).toBe(200);

  // The refresh icon asks first, naming the token and what stops working; cancelling changes nothing.
  const refreshButton = page.getByRole("button", { name: `Refresh token ${name}`, exact: true });
  await refreshButton.click();
  const refreshDialog = page.getByRole("dialog", { name: `Refresh token ${name}?` });
  await expect(refreshDialog).toBeVisible();
  await expect(refreshDialog).toContainText(`the current token ${name} is revoked: it stops working at once`);
  await expect(refreshDialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await refreshDialog.getByRole("button", { name: "Cancel" }).click();
  await expect(refreshDialog).toBeHidden();
  await expect(refreshButton).toBeFocused(); // back to its trigger
  expect(await coreStatusWith(request, first)).toBe(200);

  await refreshButton.click();
  await refreshDialog.getByRole("button", { name: "Refresh token", exact: true }).click();
  await expect(refreshDialog).toBeHidden();
  await expect(shown).not.toHaveValue(first);
  await expect(shown).toHaveValue(PAT);
  await expect(shown).toBeFocused();
  await expect(page.getByText("The old token was revoked and stopped working at once")).toBeVisible();
  const second = await shown.inputValue();
  expect(await coreStatusWith(request, first)).toBe(401);
  expect(await coreStatusWith(request, second)).toBe(200);

  // Revoke: confirm naming the token; then it is gone from the table, refused at the core, and focus
  // is on the list's heading.
  await page.getByRole("button", { name: `Revoke token ${name}`, exact: true }).click();
  const revokeDialog = page.getByRole("dialog", { name: `Revoke token ${name}?` });
  await expect(revokeDialog).toContainText(`Token ${name} stops working at once`);
  await revokeDialog.getByRole("button", { name: "Revoke token", exact: true }).click();
  await expect(revokeDialog).toBeHidden();
  await expect(tokenRow(page, name)).toHaveCount(0);
  await expect(list).toBeFocused();
  expect(await expectFocusNamed(page, "after revoke")).toBe("h2:Personal access tokens");
  expect(await coreStatusWith(request, second)).toBe(401);

  // Shown once means once: after a reload neither token is anywhere on the page, not even in a field.
  await page.reload();
  await expect(list).toBeVisible();
  await expect(page.getByRole("textbox", { name: "New token" })).toHaveCount(0);
  const html = await page.content();
  const values = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input, textarea"), (field) => (field as HTMLInputElement).value),
  );
  for (const token of [first, second]) {
    expect(html).not.toContain(token);
    expect(values).not.toContain(token);
    expect(html).not.toContain(token.slice(4, 30));
  }
});

test("My Profile has a Developer Settings section that links to the page", async ({ page }) => {
  await page.goto("/profile");
  const section = page.getByRole("region", { name: "Developer Settings" });
  await expect(section).toBeVisible();
  await expect(section.getByRole("definition").first()).toHaveText(/^\d+ active/);
  await section.getByRole("link", { name: "Manage personal access tokens" }).click();
  await expect(page).toHaveURL(/\/profile\/developer-settings$/);
  await expect(page.getByRole("heading", { level: 1, name: "Developer Settings" })).toBeVisible();
});
