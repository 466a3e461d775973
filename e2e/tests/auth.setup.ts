/** Signs in once per run through the form and keeps the cookies, so most tests start signed in. */
import { test as setup } from "@playwright/test";

import { DEVELOPER_STATE, MEMBER_STATE, signIn, stack } from "./support";

setup("the member signs in through the form", async ({ page }) => {
  await signIn(page, stack().accounts.member);
  await page.context().storageState({ path: MEMBER_STATE });
});

setup("the developer signs in through the form", async ({ page }) => {
  await signIn(page, stack().accounts.developer);
  await page.context().storageState({ path: DEVELOPER_STATE });
});
