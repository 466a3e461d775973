/**
 * The Sessions page (issue 14, items 4 and 13): every ending asks first and names what stops working,
 * each "End session" has a name of its own, "Sign out other sessions" keeps this one, "Log out everywhere"
 * ends this one too and the login page says so, in every tab. A fresh account of its own: its sessions
 * are ended here.
 */
import { type Browser, type BrowserContext, type Page, expect, test } from "@playwright/test";

import { VIEWPORTS, audit, auditBoth, expectFocusNamed } from "./audit";
import { type Account, SIGNED_OUT, freshAccount, signIn, stack } from "./support";

test.use({ storageState: SIGNED_OUT });
// Several browsers signing in, and an audit per state: more than the default 30 s on a busy machine.
test.slow();

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME_MAC =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/** Another browser (its own cookie jar and User-Agent) signed in as `account`. */
async function otherBrowser(browser: Browser, account: Account, userAgent: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: stack().bff, userAgent, storageState: SIGNED_OUT });
  await signIn(await context.newPage(), account);
  return context;
}

/** Whether a browser's session still works: its page reaches Projects, or lands on the login page. */
async function expectSignedOut(context: BrowserContext, message: RegExp): Promise<void> {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto("/projects");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("alert")).toContainText(message);
}

function endButtons(page: Page) {
  return page.getByRole("button", { name: /^End session on / });
}

test("ending sessions asks first, names the device, and keeps focus on the list", async ({ page, browser, request }) => {
  const account = await freshAccount(request);
  const firefox = await otherBrowser(browser, account, FIREFOX_LINUX);
  const mac = await otherBrowser(browser, account, CHROME_MAC);
  try {
    await signIn(page, account);
    await page.goto("/sessions");
    await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
    await expect(endButtons(page)).toHaveCount(2);

    // Distinct accessible names, naming the device and when it was last used; no raw User-Agent in the rows.
    const names = await endButtons(page).evaluateAll((buttons) => buttons.map((b) => b.getAttribute("aria-label")));
    expect(new Set(names).size).toBe(2);
    const firefoxButton = page.getByRole("button", { name: /^End session on Firefox 128 on Linux, last seen (just now|\d+ minutes? ago)$/ });
    const macButton = page.getByRole("button", { name: /^End session on Chrome 131 on macOS, last seen / });
    await expect(firefoxButton).toBeVisible();
    await expect(macButton).toBeVisible();
    const table = page.getByRole("table", { name: "Active sessions" });
    await expect(table).not.toContainText("Mozilla/5.0");
    await expect(table).not.toContainText("Gecko");
    // Relative times, the exact time in the <time> element.
    const firstTime = table.locator("time").first();
    await expect(firstTime).toHaveText(/^(just now|\d+ minutes? ago)$/);
    expect(Date.parse((await firstTime.getAttribute("datetime")) ?? "")).not.toBeNaN();
    expect(await firstTime.getAttribute("title")).toBeTruthy();

    await audit(page, "sessions list (desktop)");
    await page.setViewportSize(VIEWPORTS.phone);
    await audit(page, "sessions list (phone)");
    await page.setViewportSize(VIEWPORTS.desktop);

    // "End session" asks first, naming the browser; Cancel gives focus back and ends nothing.
    await firefoxButton.click();
    const dialog = page.getByRole("dialog", { name: "End the session on Firefox 128 on Linux?" });
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText("That browser will be signed out");
    await auditBoth(page, "end session dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect(dialog).toBeHidden();
    await expect(firefoxButton).toBeFocused();
    await expect(endButtons(page)).toHaveCount(2);

    await firefoxButton.click();
    await dialog.getByRole("button", { name: "End session" }).click();
    await expect(dialog).toBeHidden();
    await expect(endButtons(page)).toHaveCount(1);
    await expect(page.getByRole("status")).toContainText("The session on Firefox 128 on Linux has ended");
    // The ended row's button is gone: focus moves to the next row's, never to the body.
    await expect(macButton).toBeFocused();
    await expectFocusNamed(page, "after ending a session");
    await expectSignedOut(firefox, /session has ended/);

    // The last other session ended from the list: focus goes to the table's caption.
    await macButton.click();
    await page.getByRole("dialog").getByRole("button", { name: "End session" }).click();
    await expect(endButtons(page)).toHaveCount(0);
    await expect(page.locator("caption")).toBeFocused();
    await expectFocusNamed(page, "after ending the last other session");
    await expectSignedOut(mac, /session has ended/);
  } finally {
    await firefox.close();
    await mac.close();
  }
});

test("sign out other sessions keeps this one; log out everywhere ends it too and says so in every tab", async ({
  page,
  context,
  browser,
  request,
}) => {
  const account = await freshAccount(request);
  const firefox = await otherBrowser(browser, account, FIREFOX_LINUX);
  const mac = await otherBrowser(browser, account, CHROME_MAC);
  try {
    await signIn(page, account);
    await page.goto("/sessions");
    await expect(endButtons(page)).toHaveCount(2);

    const others = page.getByRole("button", { name: "Sign out other sessions" });
    await others.click();
    const dialog = page.getByRole("dialog", { name: "Sign out other sessions?" });
    await expect(dialog).toContainText("Every other browser signed in to your account will be signed out (2 sessions)");
    await expect(dialog).toContainText("This one stays signed in");
    await page.setViewportSize(VIEWPORTS.phone);
    await audit(page, "sign out others dialog (phone)");
    await page.setViewportSize(VIEWPORTS.desktop);
    await dialog.getByRole("button", { name: "Sign out other sessions" }).click();
    await expect(dialog).toBeHidden();
    const notice = page.getByRole("status");
    await expect(notice).toContainText("Every other session has been signed out");
    await expect(notice).toBeFocused();
    await expect(endButtons(page)).toHaveCount(0);
    await expect(page.getByRole("table", { name: "Active sessions" }).getByRole("row")).toHaveCount(2); // head + this
    await expect(others).toBeDisabled();
    await expectSignedOut(firefox, /session has ended/);
    await expectSignedOut(mac, /session has ended/);

    // Log out everywhere, with a second tab open: both land on the login page, which says why.
    const second = await context.newPage();
    await second.goto("/profile");
    await expect(second.getByRole("heading", { name: "My Profile" })).toBeVisible();
    await page.getByRole("button", { name: "Log out everywhere" }).click();
    const everywhere = page.getByRole("dialog", { name: "Log out everywhere?" });
    await expect(everywhere).toContainText("including this one");
    await auditBoth(page, "log out everywhere dialog");
    await everywhere.getByRole("button", { name: "Log out everywhere" }).click();
    await expect(page).toHaveURL(/\/login$/);
    for (const tab of [page, second]) {
      await expect(tab).toHaveURL(/\/login$/);
      await expect(tab.getByRole("alert")).toContainText("You were signed out everywhere");
    }
    await audit(page, "login after log out everywhere (desktop)");
    await page.setViewportSize(VIEWPORTS.phone);
    await audit(page, "login after log out everywhere (phone)");
    await expectFocusNamed(page, "login after log out everywhere");
  } finally {
    await firefox.close();
    await mac.close();
  }
});
