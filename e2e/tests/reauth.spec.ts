/** Re-authentication: past the core's re-auth window, a sensitive action asks for the password first.
 *
 * Runs against the second stack (a core whose LATCHKEY_REAUTH_WINDOW is a few seconds, and its own BFF).
 */
import { expect, test } from "@playwright/test";

import { PAT, SIGNED_OUT, coreStatusWith, signIn, stack, unique } from "./support";

test.use({ storageState: SIGNED_OUT });

test("creating a token after the re-auth window asks for the password, then goes on", async ({ page, request }) => {
  const { reauthBff, reauthWindow, accounts } = stack();
  await signIn(page, accounts.member, reauthBff);
  const signedInAt = Date.now(); // the password login (its auth_time) happened before this
  await page.goto(`${reauthBff}/profile/developer-settings`);
  const name = unique("after-lunch");
  await page.getByRole("button", { name: "Generate new token" }).click();
  await page.getByRole("textbox", { name: "Token name" }).fill(name);
  await page.getByRole("checkbox", { name: "projects:read", exact: true }).check();

  // Let the password login grow older than the window (the session itself stays valid).
  await page.waitForTimeout(Math.max(0, signedInAt + (reauthWindow + 1) * 1000 - Date.now()));
  await page.getByRole("button", { name: "Generate token", exact: true }).click();

  const dialog = page.getByRole("dialog", { name: "Confirm your password" });
  await expect(dialog).toBeVisible();
  await expect(page.getByRole("textbox", { name: "New token" })).toHaveCount(0);
  await dialog.getByLabel("Password", { exact: true }).fill(accounts.member.password);
  await dialog.getByRole("button", { name: "Confirm" }).click();

  // The original request is retried once the password is confirmed.
  await expect(dialog).toBeHidden();
  const shown = page.getByRole("textbox", { name: "New token" });
  await expect(shown).toHaveValue(PAT);
  expect(await coreStatusWith(request, await shown.inputValue())).toBe(200);
});
