/** An idle session ends on the server; the app notices by itself, returns to /login and says why.
 *
 * Runs against a BFF whose LATCHKEY_SESSION_IDLE_TIMEOUT is a few seconds.
 */
import { expect, test } from "@playwright/test";

import { SIGNED_OUT, signIn, stack } from "./support";

test.use({ storageState: SIGNED_OUT });

test("an idle session ends and the app says it expired", async ({ page }) => {
  const { idleBff, idleTimeout, accounts } = stack();
  const streaming = page.waitForResponse((r) => r.url().endsWith("/api/v1/events") && r.status() === 200);
  await signIn(page, accounts.member, idleBff);
  await streaming;

  // No user action: the BFF ends the session after the idle timeout (closing its event stream), and the
  // app, finding the session gone, returns to the login page.
  await expect(page).toHaveURL(/\/login$/, { timeout: (idleTimeout + 10) * 1000 });
  await expect(page.getByRole("alert")).toContainText("expired");
});
