/** Projects: create, rename, delete, upload and download files, and live updates from other clients. */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";

import { type Page, type Request, expect, test } from "@playwright/test";

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

  await page.getByRole("button", { name: `Rename ${name}`, exact: true }).click();
  await page.getByRole("textbox", { name: `New name for ${name}`, exact: true }).fill(renamed);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(projectItem(page, renamed)).toBeVisible();
  await expect(projectItem(page, name)).toHaveCount(0);

  // Kept after a reload: it was saved at the core, not only in the page.
  await page.reload();
  await expect(projectItem(page, renamed)).toBeVisible();

  await page.getByRole("button", { name: `Delete ${renamed}`, exact: true }).click();
  await page.getByRole("button", { name: "Confirm delete" }).click();
  await expect(projectItem(page, renamed)).toHaveCount(0);
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
