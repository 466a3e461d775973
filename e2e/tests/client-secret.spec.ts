/** The client secret: masked, revealed, rotated with a grace period; only developers have one. */
import { type APIRequestContext, expect, test } from "@playwright/test";

import { CLIENT_SECRET, DEVELOPER_STATE, stack } from "./support";

/** A password grant for the developer at the core, authenticated with `secret` (as their server would). */
async function grantStatus(request: APIRequestContext, secret: string): Promise<number> {
  const { core, accounts } = stack();
  const answer = await request.post(`${core}/v1/oauth/token`, {
    headers: { Authorization: `Secret ${secret}` },
    form: { grant_type: "password", username: accounts.developer.email, password: accounts.developer.password },
  });
  return answer.status();
}

test.describe("as a developer", () => {
  test.use({ storageState: DEVELOPER_STATE });

  test("reveal and rotate the client secret; the old one keeps working during the grace", async ({
    page,
    request,
  }) => {
    await page.goto("/profile/developer-settings");
    await expect(page.getByRole("heading", { name: "Client secret" })).toBeVisible();
    const field = page.getByRole("textbox", { name: "Client secret" });
    // Masked until asked for, with when it was created and last used beside it (its description).
    await expect(field).toBeVisible();
    await expect(field).not.toHaveValue(/lks_/);
    await expect(field).toHaveAccessibleDescription(/^Created .+ · (Last used .+|Never used)$/);

    await page.getByRole("button", { name: "Reveal client secret" }).click();
    await expect(field).toHaveValue(CLIENT_SECRET);
    const old = await field.inputValue();
    await page.getByRole("button", { name: "Hide client secret" }).click();
    await expect(field).not.toHaveValue(/lks_/);

    // A use of the secret shows as its last use, without revealing it.
    expect(await grantStatus(request, old)).toBe(200);
    await page.reload();
    await expect(field).toHaveAccessibleDescription(/· Last used /);
    await expect(field).not.toHaveValue(/lks_/);

    await page.getByRole("button", { name: "Rotate client secret" }).click();
    const dialog = page.getByRole("dialog", { name: "Rotate the client secret?" });
    await expect(dialog).toContainText("keeps working for a short grace period");
    await dialog.getByRole("button", { name: "Confirm rotate" }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByText(/The previous secret keeps working until/)).toBeVisible();
    await expect(field).toHaveValue(CLIENT_SECRET);
    await expect(field).toBeFocused(); // the new secret, not the page body
    const rotated = await field.inputValue();
    expect(rotated).not.toBe(old);

    // Both work at the core's token endpoint: the new one, and the old one until the grace ends.
    expect(await grantStatus(request, rotated)).toBe(200);
    expect(await grantStatus(request, old)).toBe(200);
    // A made-up secret does not.
    expect(await grantStatus(request, `lks_${"A".repeat(49)}`)).toBe(401);
  });
});

test("a member without a developer account sees no client secret", async ({ page }) => {
  await page.goto("/profile/developer-settings");
  await expect(page.getByRole("heading", { name: "Personal access tokens" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Client secret" })).toHaveCount(0);
  await expect(page.getByRole("textbox", { name: "Client secret" })).toHaveCount(0);
});
