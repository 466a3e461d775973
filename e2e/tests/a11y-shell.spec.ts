/**
 * The SPA shell (issue 14): the login page and the signed-in frame pass axe and fit a phone; a route change
 * moves focus to the page's heading and names the tab after it; the phone's compact menu opens, closes on
 * Escape and on a chosen link; the re-auth dialog keeps focus where the user is and cancelling it is no error.
 */
import { type Locator, type Page, expect, test } from "@playwright/test";

import { VIEWPORTS, audit, auditBoth, expectFocusNamed } from "./audit";
import { SIGNED_OUT, freshAccount, stack } from "./support";

/** The page's h1 has focus and the document's title is "<h1> · Latchkey". */
async function expectOnPage(page: Page, heading: string | RegExp, state: string): Promise<void> {
  const h1 = page.getByRole("heading", { level: 1, name: heading });
  await expect(h1).toBeFocused();
  const text = (await h1.innerText()).trim();
  await expect(page).toHaveTitle(`${text} · Latchkey`);
  expect(await expectFocusNamed(page, state)).toBe(`h1:${text}`);
}

/** A route change the way the browser's Back/Forward makes one (no reload, no link on the page for it). */
async function clientNavigate(page: Page, path: string): Promise<void> {
  await page.evaluate((to) => {
    window.history.pushState(null, "", to);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }, path);
}

function mainNav(page: Page): Locator {
  return page.getByRole("navigation", { name: "Main" });
}

test("route changes focus the heading and set the title; the phone menu opens, closes and navigates", async ({
  page,
}) => {
  await page.goto("/projects");
  const menu = page.getByRole("button", { name: "Menu" });
  // The first page of a visit keeps the browser's focus at the top; its title is already the heading's.
  await expect(page.getByRole("heading", { level: 1, name: "Projects" })).toBeVisible();
  await expect(page).toHaveTitle("Projects · Latchkey");

  // Desktop: the links are in the top bar itself, no menu button.
  await expect(menu).toBeHidden();
  await audit(page, "projects, desktop");
  for (const [link, heading] of [
    ["My Profile", "My Profile"],
    ["Sessions", "Sessions"],
    ["Developer Settings", "Developer Settings"],
    ["Projects", "Projects"],
  ] as const) {
    await mainNav(page).getByRole("link", { name: link, exact: true }).click();
    await expectOnPage(page, heading, `after choosing ${link}`);
  }

  // An address with no page: its heading and title say so, and get focus like any page.
  await clientNavigate(page, "/no-such-page");
  await expectOnPage(page, "Page not found", "404");
  await auditBoth(page, "404");
  await page.getByRole("link", { name: "Go to your projects" }).click();
  await expectOnPage(page, "Projects", "from the 404 page");

  // Phone: one row (the brand and "Menu"); the links open below it.
  await page.setViewportSize(VIEWPORTS.phone);
  await expect(menu).toBeVisible();
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(mainNav(page).getByRole("link", { name: "Sessions" })).toBeHidden();
  const barHeight = await page.locator("header.topbar").evaluate((bar) => bar.getBoundingClientRect().height);
  expect(barHeight).toBeLessThan(64);
  await audit(page, "projects, phone, menu closed");

  await menu.click();
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  const controlled = await menu.getAttribute("aria-controls");
  expect(controlled).toBeTruthy();
  await expect(page.locator(`[id="${controlled ?? ""}"]`)).toBeVisible();
  for (const link of ["Projects", "My Profile", "Developer Settings", "Sessions"]) {
    await expect(mainNav(page).getByRole("link", { name: link, exact: true })).toBeVisible();
  }
  await expect(mainNav(page).getByRole("button", { name: "Log out" })).toBeVisible();
  await audit(page, "projects, phone, menu open");

  // Escape closes it from inside and gives focus back to the button.
  await mainNav(page).getByRole("link", { name: "My Profile" }).focus();
  await page.keyboard.press("Escape");
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(menu).toBeFocused();
  await expect(mainNav(page).getByRole("link", { name: "My Profile" })).toBeHidden();

  // Choosing a link closes it; the new page's heading has focus.
  await menu.click();
  await mainNav(page).getByRole("link", { name: "Sessions" }).click();
  await expectOnPage(page, "Sessions", "after choosing Sessions in the phone menu");
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(mainNav(page).getByRole("link", { name: "Projects" })).toBeHidden();
});

test.describe("signed out", () => {
  test.use({ storageState: SIGNED_OUT });

  test("login page audit; after signing in the heading has focus; re-auth dialog focus, wrong password, cancel", async ({
    page,
    request,
  }) => {
    const { reauthBff, reauthWindow } = stack();
    const account = await freshAccount(request, { developer: true });

    await page.goto(`${reauthBff}/login`);
    await expect(page).toHaveTitle("Sign in · Latchkey");
    // The login form is the first page: its email field keeps the autofocus.
    await expect(page.getByRole("textbox", { name: "Email" })).toBeFocused();
    await audit(page, "login, desktop");
    await page.setViewportSize(VIEWPORTS.phone);
    await audit(page, "login, phone");
    await page.setViewportSize(VIEWPORTS.desktop);

    await page.getByRole("textbox", { name: "Email" }).fill(account.email);
    await page.getByLabel("Password", { exact: true }).fill(account.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    const signedInAt = Date.now();
    await expectOnPage(page, "Projects", "after signing in");

    await mainNav(page).getByRole("link", { name: "Developer Settings" }).click();
    const reveal = page.getByRole("button", { name: "Reveal client secret" });
    await expect(reveal).toBeVisible();
    // Past the short re-auth window of this stack, revealing the secret asks for the password.
    await page.waitForTimeout(Math.max(0, signedInAt + (reauthWindow + 1) * 1000 - Date.now()));

    const dialog = page.getByRole("dialog", { name: "Confirm your password" });
    const password = dialog.getByLabel("Password", { exact: true });
    await reveal.click();
    await expect(dialog).toBeVisible();
    await expect(password).toBeFocused();
    await audit(page, "re-auth dialog, desktop");

    // The modal dialog makes the page behind it inert: Tab cycles through the dialog's controls (and, as
    // with every native modal dialog, the browser's own toolbar), never to the page under it.
    const visited = new Set<string>();
    for (let step = 0; step < 8; step += 1) {
      await page.keyboard.press("Tab");
      const where = await page.evaluate(() => {
        const active = document.activeElement;
        if (!active || active === document.body) return "browser";
        return active.closest("dialog[open]") ? `dialog:${active.tagName}:${active.textContent ?? ""}` : "page";
      });
      expect(where).not.toBe("page");
      visited.add(where);
    }
    expect(visited).toContain("dialog:BUTTON:Cancel");
    expect(visited).toContain("dialog:INPUT:");

    await password.fill("not-the-password");
    await password.press("Enter");
    const wrong = dialog.getByRole("alert");
    await expect(wrong).toHaveText("Wrong password. Try again.");
    await expect(password).toBeFocused();
    await expect(password).toHaveAccessibleDescription("Wrong password. Try again.");
    await audit(page, "re-auth dialog, wrong password");

    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect(dialog).toBeHidden();
    await expect(reveal).toBeFocused();
    // Cancelling is the user's choice, not a failure: no red message anywhere.
    await expect(page.getByRole("alert")).toHaveCount(0);
    await expect(page.getByRole("textbox", { name: "Client secret" })).not.toHaveValue(/lks_/);

    // The same at phone size, closed with Escape this time.
    await page.setViewportSize(VIEWPORTS.phone);
    await reveal.click();
    await expect(dialog).toBeVisible();
    await expect(password).toBeFocused();
    await audit(page, "re-auth dialog, phone");
    await page.keyboard.press("Escape");
    await expect(dialog).toBeHidden();
    await expect(reveal).toBeFocused();
    await expect(page.getByRole("alert")).toHaveCount(0);
  });
});
