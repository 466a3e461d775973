/** The Projects page of an account with no projects yet: what it says, and the audit at both sizes. */
import { expect, test } from "@playwright/test";

import { VIEWPORTS, audit, expectFocusNamed } from "./audit";
import { SIGNED_OUT, freshAccount, signIn } from "./support";

test.use({ storageState: SIGNED_OUT });

test("audit: the empty list, and the first project takes focus", async ({ page, request }) => {
  await signIn(page, await freshAccount(request));
  await expect(page.getByText("No projects yet. Create your first one above.")).toBeVisible();
  await audit(page, "empty list (desktop)");
  await page.setViewportSize(VIEWPORTS.phone);
  await audit(page, "empty list (phone)");

  await page.getByRole("textbox", { name: "New project name" }).fill("First");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "First", level: 2 })).toBeFocused();
  expect(await expectFocusNamed(page, "after the first create")).toBe("h2:First");
  await expect(page.getByText("No projects yet.")).toHaveCount(0);
});
