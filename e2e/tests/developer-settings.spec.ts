/** Developer Settings: a personal access token's whole life, driven through the UI, checked at the core. */
import { type Page, expect, test } from "@playwright/test";

import { PAT, coreStatusWith, stack, unique } from "./support";

function tokenRow(page: Page, name: string) {
  return page.getByRole("table", { name: "Personal access tokens" }).getByRole("row").filter({ hasText: name });
}

test("create, copy, refresh and revoke a personal access token", async ({ page, context, request }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack().bff });
  await page.goto("/profile/developer-settings");
  await expect(page.getByRole("heading", { name: "Developer Settings" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Personal access tokens" })).toBeVisible();
  const name = unique("ci-deploy");

  // Create: name, scopes, expiry.
  await page.getByRole("textbox", { name: "Token name" }).fill(name);
  await page.getByRole("checkbox", { name: "projects:read", exact: true }).check();
  await page.getByRole("spinbutton", { name: "Expires in (days)" }).fill("7");
  await page.getByRole("button", { name: "Create token" }).click();
  const shown = page.getByRole("textbox", { name: "New token" });
  await expect(shown).toHaveValue(PAT);
  await expect(page.getByText("Copy it now: it will not be shown again.")).toBeVisible();
  const first = await shown.inputValue();
  await expect(tokenRow(page, name)).toBeVisible();

  // Copy puts exactly the token on the clipboard.
  await page.getByRole("button", { name: "Copy token" }).click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(first);

  // It works straight at the core, as a script would use it.
  expect(await coreStatusWith(request, first)).toBe(200);

  // The refresh icon revokes it and shows a new one, once.
  await page.getByRole("button", { name: `Refresh token ${name}`, exact: true }).click();
  await expect(shown).toHaveValue(PAT);
  await expect(shown).not.toHaveValue(first);
  const second = await shown.inputValue();
  expect(await coreStatusWith(request, first)).toBe(401);
  expect(await coreStatusWith(request, second)).toBe(200);

  // Revoke: gone from the table, refused at the core.
  await page.getByRole("button", { name: `Revoke token ${name}`, exact: true }).click();
  await page.getByRole("button", { name: "Confirm revoke" }).click();
  await expect(tokenRow(page, name)).toHaveCount(0);
  expect(await coreStatusWith(request, second)).toBe(401);

  // Shown once means once: after a reload neither token is anywhere on the page, not even in a field.
  await page.reload();
  await expect(page.getByRole("heading", { name: "Personal access tokens" })).toBeVisible();
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
