/** Screenshots of the main pages for the README.
 *
 * `just screenshots` sets LATCHKEY_SCREENSHOTS_DIR=docs/screenshots; in the normal suite they go to the test's
 * output folder, so a test run never rewrites tracked files.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import { type APIRequestContext, type Page, type TestInfo, expect, test } from "@playwright/test";

import { VIEWPORTS } from "./audit";
import { DEVELOPER_STATE, SIGNED_OUT, coreAccessToken, signIn, stack } from "./support";

const FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0";

// Created in this order, listed newest first; the last one gets a file.
const SAMPLE_PROJECTS = ["Data pipeline", "Mobile app", "Website redesign"];
const SAMPLE_FILE = "brief.md";

function target(testInfo: TestInfo, name: string): string {
  const dir = process.env.LATCHKEY_SCREENSHOTS_DIR;
  if (!dir) {
    return testInfo.outputPath(`${name}.png`);
  }
  const absolute = path.resolve(dir);
  mkdirSync(absolute, { recursive: true });
  return path.join(absolute, `${name}.png`);
}

async function shoot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  // Let fonts and late renders settle into a stable frame.
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  await page.screenshot({ path: target(testInfo, name), animations: "disabled", caret: "hide" });
}

/** The page as it is at the desktop size (`<name>.png`), then at the phone size (`<name>-phone.png`). */
async function shootBoth(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await page.setViewportSize(VIEWPORTS.desktop);
  await shoot(page, testInfo, name);
  await page.setViewportSize(VIEWPORTS.phone);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shoot(page, testInfo, `${name}-phone`);
  await page.setViewportSize(VIEWPORTS.desktop);
}

/** A few sample projects, a file and a token for the developer, through the core API (idempotent). */
async function seedSamples(request: APIRequestContext): Promise<void> {
  const { core, accounts } = stack();
  const headers = { Authorization: `Bearer ${await coreAccessToken(request, accounts.developer)}` };
  const listed = (await (await request.get(`${core}/v1/projects?limit=100`, { headers })).json()) as {
    items: { id: number; name: string }[];
  };
  const have = new Set(listed.items.map((project) => project.name));
  for (const name of SAMPLE_PROJECTS.filter((name) => !have.has(name))) {
    const created = await request.post(`${core}/v1/projects`, { headers, data: { name, description: "" } });
    expect(created.status()).toBe(201);
    if (name === SAMPLE_PROJECTS.at(-1)) {
      const { id } = (await created.json()) as { id: number };
      const put = await request.put(`${core}/v1/projects/${id}/files/${SAMPLE_FILE}`, {
        headers: { ...headers, "Content-Type": "text/markdown" },
        data: "# Brief\n",
      });
      expect(put.ok()).toBe(true);
    }
  }
  const tokens = (await (await request.get(`${core}/v1/me/tokens`, { headers })).json()) as {
    items: { name: string }[];
  };
  if (!tokens.items.some((token) => token.name === "ci-deploy")) {
    const made = await request.post(`${core}/v1/me/tokens`, {
      headers,
      data: { name: "ci-deploy", scopes: ["projects:read", "projects:write"], expires_in_days: 90 },
    });
    expect(made.status()).toBe(201);
  }
}

test("login page", async ({ browser }, testInfo) => {
  const context = await browser.newContext({ storageState: SIGNED_OUT });
  const page = await context.newPage();
  await page.goto("/login");
  await expect(page.getByRole("button", { name: "Sign in", exact: true })).toBeVisible();
  // Both ways in: the password form and the identity provider's button.
  await expect(page.getByRole("button", { name: `Sign in with ${stack().provider.name}` })).toBeVisible();
  await shootBoth(page, testInfo, "login");
  // Back from the provider after the user cancelled there (SPEC §11's `?error=` codes).
  await page.goto("/login?error=login_cancelled");
  await expect(page.getByRole("alert")).toBeVisible();
  await shoot(page, testInfo, "login-cancelled");
  await context.close();
});

test.describe("signed in", () => {
  test.use({ storageState: DEVELOPER_STATE });

  test.beforeAll(async ({ playwright }) => {
    const request = await playwright.request.newContext();
    try {
      await seedSamples(request);
    } finally {
      await request.dispose();
    }
  });

  test("projects page", async ({ page }, testInfo) => {
    await page.goto("/projects");
    for (const name of SAMPLE_PROJECTS) {
      await expect(page.getByRole("list", { name: "Projects" }).getByText(name, { exact: true })).toBeVisible();
    }
    await expect(page.getByRole("button", { name: `Download ${SAMPLE_FILE}` })).toBeVisible();
    await shootBoth(page, testInfo, "projects");
  });

  test("developer settings", async ({ page }, testInfo) => {
    await page.goto("/profile/developer-settings");
    await expect(page.getByRole("heading", { name: "Developer Settings" })).toBeInViewport();
    await expect(page.getByRole("table", { name: "Personal access tokens" }).getByText("ci-deploy")).toBeVisible();
    await expect(page.getByRole("heading", { name: "Client secret" })).toBeVisible();
    await shootBoth(page, testInfo, "developer-settings");
  });

  test("my profile", async ({ page }, testInfo) => {
    await page.goto("/profile");
    await expect(page.getByRole("heading", { name: "My Profile" })).toBeVisible();
    await expect(page.getByText(stack().accounts.developer.email).first()).toBeVisible();
    await shootBoth(page, testInfo, "profile");
  });

  test("sessions page", async ({ page, browser }, testInfo) => {
    // A second signed-in browser, so the list shows another session beside this one.
    const other = await browser.newContext({ storageState: SIGNED_OUT, userAgent: FIREFOX_ON_LINUX });
    try {
      await signIn(await other.newPage(), stack().accounts.developer);
      await page.goto("/sessions");
      await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
      await expect(page.getByRole("button", { name: /^End session/ }).first()).toBeVisible();
      await shootBoth(page, testInfo, "sessions");
    } finally {
      await other.close();
    }
  });
});
