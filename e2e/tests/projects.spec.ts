/** Projects: create, rename, delete, upload and download files, and live updates from other clients. */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";

import { type Page, type Request, expect, test } from "@playwright/test";

import { VIEWPORTS, auditBoth, expectFitsViewport, expectFocusNamed } from "./audit";
import { createPat, documentIsMarked, markDocument, stack, unique } from "./support";

function projectList(page: Page) {
  return page.getByRole("list", { name: "Projects" });
}

function projectItem(page: Page, name: string) {
  return projectList(page).getByRole("listitem").filter({ hasText: name });
}

async function createProject(page: Page, name: string): Promise<void> {
  await page.getByRole("textbox", { name: "New project name" }).fill(name);
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(projectItem(page, name)).toBeVisible();
}

test.beforeEach(async ({ page }) => {
  await page.goto("/projects");
  await expect(page.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();
});

test("create, rename and delete a project", async ({ page }) => {
  const keeper = unique("Gemini");
  const name = unique("Apollo");
  const renamed = unique("Artemis");
  await createProject(page, keeper);
  await createProject(page, name);

  // Focus lands on the new project's heading, not on the body.
  await expect(page.getByRole("heading", { name, level: 2 })).toBeFocused();

  await page.getByRole("button", { name: `Rename ${name}`, exact: true }).click();
  await page.getByRole("textbox", { name: `New name for ${name}`, exact: true }).fill(renamed);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(projectItem(page, renamed)).toBeVisible();
  await expect(projectItem(page, name)).toHaveCount(0);
  await expect(page.getByRole("heading", { name: renamed, level: 2 })).toBeFocused();

  // Kept after a reload: it was saved at the core, not only in the page.
  await page.reload();
  await expect(projectItem(page, renamed)).toBeVisible();

  await page.getByRole("button", { name: `Delete ${renamed}`, exact: true }).click();
  const dialog = page.getByRole("dialog", { name: `Delete project ${renamed}?` });
  await expect(dialog).toContainText("all its files are deleted");
  await dialog.getByRole("button", { name: "Delete project" }).click();
  await expect(projectItem(page, renamed)).toHaveCount(0);
  // The card is gone: focus is on the page's heading.
  await expect(page.getByRole("heading", { name: "Projects", level: 1 })).toBeFocused();
  await page.reload();
  await expect(projectItem(page, keeper)).toBeVisible();
  await expect(projectItem(page, renamed)).toHaveCount(0);
});

test("upload a file and download it back byte for byte", async ({ page }) => {
  const name = unique("Uploads");
  await createProject(page, name);
  const content = randomBytes(256 * 1024);

  await page.getByLabel(`Upload file to ${name}`, { exact: true }).setInputFiles({
    name: "telemetry.bin",
    mimeType: "application/octet-stream",
    buffer: content,
  });
  const download = projectItem(page, name).getByRole("button", { name: "Download telemetry.bin" });
  await expect(download).toBeVisible();

  const saved = page.waitForEvent("download");
  await download.click();
  const file = await saved;
  expect(file.suggestedFilename()).toBe("telemetry.bin");
  const path = await file.path();
  expect(Buffer.compare(await readFile(path), content)).toBe(0);
});

test("a project created by a script appears without a reload", async ({ page, request }) => {
  // A personal access token made through the core API, used as a script or CI job would.
  const pat = await createPat(request, stack().accounts.member, ["projects:read", "projects:write"]);
  const createdByScript = async (name: string) => {
    const created = await request.post(`${stack().core}/v1/projects`, {
      headers: { Authorization: `Bearer ${pat}` },
      data: { name, description: "made with curl" },
    });
    expect(created.status(), await created.text()).toBe(201);
  };
  // The page's reads of the project list, so the test can tell a live event from a re-fetch.
  const listReads = new Set<Request>();
  const pending = new Set<Request>();
  page.on("request", (r) => {
    if (r.method() === "GET" && new URL(r.url()).pathname === "/api/v1/projects") {
      listReads.add(r);
      pending.add(r);
    }
  });
  page.on("requestfinished", (r) => pending.delete(r));
  page.on("requestfailed", (r) => pending.delete(r));

  // Load the page with one project already there, and wait until it is live: list shown, event stream
  // open, and no read of the list still under way.
  const existing = unique("Already there");
  await createdByScript(existing);
  const streaming = page.waitForResponse((r) => r.url().endsWith("/api/v1/events") && r.status() === 200);
  await page.reload();
  await streaming;
  await expect(projectItem(page, existing)).toBeVisible();
  await expect.poll(() => pending.size).toBe(0);
  await markDocument(page);
  const readsBefore = listReads.size;

  const name = unique("From a script");
  await createdByScript(name);
  await expect(projectItem(page, name)).toBeVisible();
  // It came through the event stream: no reload, and no new read of the list.
  expect(listReads.size).toBe(readsBefore);
  expect(await documentIsMarked(page)).toBe(true);
});

test("a whitespace-only name is refused at the field, and focus stays there", async ({ page }) => {
  const field = page.getByRole("textbox", { name: "New project name" });
  await field.fill("   ");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByText("Enter a name")).toBeVisible();
  await expect(field).toBeFocused();
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await expect(field).toHaveAccessibleDescription("Enter a name");
  // Typing clears the error.
  await field.fill("x");
  await expect(page.getByText("Enter a name")).toHaveCount(0);

  // The same in a rename.
  const name = unique("Blank rename");
  await createProject(page, name);
  await page.getByRole("button", { name: `Rename ${name}`, exact: true }).click();
  const rename = page.getByRole("textbox", { name: `New name for ${name}`, exact: true });
  await rename.fill("  ");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(rename).toBeFocused();
  await expect(rename).toHaveAccessibleDescription("Enter a name");
  await expect(projectItem(page, name)).toBeVisible();
});

test("Escape cancels a rename and gives focus back to the Rename button", async ({ page }) => {
  const name = unique("Escapee");
  await createProject(page, name);
  await page.getByRole("button", { name: `Rename ${name}`, exact: true }).click();
  const rename = page.getByRole("textbox", { name: `New name for ${name}`, exact: true });
  await expect(rename).toBeFocused();
  await rename.fill("Never saved");
  await rename.press("Escape");
  await expect(rename).toHaveCount(0);
  await expect(page.getByRole("button", { name: `Rename ${name}`, exact: true })).toBeFocused();
  await expect(projectItem(page, "Never saved")).toHaveCount(0);
  await expect(projectItem(page, name)).toBeVisible();
});

test("a long unbroken name wraps instead of widening the page", async ({ page }) => {
  const name = `${"Supercalifragilistic".repeat(8)}${unique("").trim()}`;
  await createProject(page, name);
  for (const size of [VIEWPORTS.desktop, VIEWPORTS.phone]) {
    await page.setViewportSize(size);
    await expectFitsViewport(page, `long name at ${size.width}px`);
  }
});


test("audit: the list, a card with files, rename mode and an open confirmation", async ({ page }) => {
  test.slow(); // eight axe runs
  const name = unique("Audited");
  await createProject(page, name);
  await page.getByLabel(`Upload file to ${name}`, { exact: true }).setInputFiles({
    name: `a-very-long-file-name-without-any-breaks-${"x".repeat(60)}.csv`,
    mimeType: "text/csv",
    buffer: Buffer.from("a,b\n1,2\n"),
  });
  const item = projectItem(page, name);
  await expect(item.getByRole("button", { name: /^Download a-very-long/ })).toBeVisible();
  await auditBoth(page, "list with a card with files");

  // Phone: the files table is stacked, and the row's actions sit inside the viewport.
  await page.setViewportSize(VIEWPORTS.phone);
  for (const action of [/^Download a-very-long/, /^Delete a-very-long/]) {
    const button = item.getByRole("button", { name: action });
    await button.scrollIntoViewIfNeeded();
    const box = await button.boundingBox();
    expect(box).not.toBeNull();
    expect((box?.x ?? -1) >= 0 && (box?.x ?? 0) + (box?.width ?? 0) <= VIEWPORTS.phone.width).toBe(true);
  }
  await page.setViewportSize(VIEWPORTS.desktop);

  await page.getByRole("button", { name: `Rename ${name}`, exact: true }).click();
  await expectFocusNamed(page, "rename mode");
  await auditBoth(page, "rename mode");
  await page.getByRole("button", { name: "Cancel", exact: true }).click();

  await item.getByRole("button", { name: /^Delete a-very-long/ }).click();
  await expect(page.getByRole("dialog")).toBeVisible();
  await expectFocusNamed(page, "file delete confirmation");
  await auditBoth(page, "file delete confirmation");
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();

  await page.getByRole("button", { name: `Delete ${name}`, exact: true }).click();
  await expect(page.getByRole("dialog", { name: `Delete project ${name}?` })).toBeVisible();
  await auditBoth(page, "project delete confirmation");
});

test("a failed load offers Try again, and the badge never says Live beside it", async ({ page }) => {
  const failing = (url: URL) => url.pathname === "/api/v1/projects";
  await page.route(failing, (route) =>
    route.request().method() === "GET"
      ? route.fulfill({
          status: 503,
          contentType: "application/problem+json",
          body: JSON.stringify({ status: 503, code: "upstream_unavailable", detail: "The core is down." }),
        })
      : route.fallback(),
  );
  await page.reload();
  const error = page.getByRole("alert").filter({ hasText: "Your projects could not be loaded." });
  await expect(error).toBeVisible();
  // The event stream may be open, but the page does not show what is there: not "Live".
  await expect(page.getByText("Not up to date")).toBeVisible();
  await expect(page.getByText("Live", { exact: true })).toHaveCount(0);
  await auditBoth(page, "failed load");

  await page.unroute(failing);
  await error.getByRole("button", { name: "Try again" }).click();
  await expect(error).toHaveCount(0);
  await expect(page.getByText("Not up to date")).toHaveCount(0);
  await expect(projectList(page)).toBeVisible();
});
