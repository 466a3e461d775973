/** Files of a project: upload with progress and cancel, overwrite and delete confirmations, and downloads the
 * browser makes itself (a short-lived ticket link), never read into the page's memory. */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";

import { type Locator, type Page, type Request, expect, test } from "@playwright/test";

import { auditBoth } from "./audit";
import { unique } from "./support";

function projectItem(page: Page, name: string): Locator {
  return page.getByRole("list", { name: "Projects" }).getByRole("listitem").filter({ hasText: name });
}

/** A new project through the form; its id (read back from the API with the page's own session). */
async function createProject(page: Page, name: string): Promise<number> {
  await page.getByRole("textbox", { name: "New project name" }).fill(name);
  const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/projects") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Create project" }).click();
  const answer = await created;
  expect(answer.status()).toBe(201);
  await expect(projectItem(page, name)).toBeVisible();
  return ((await answer.json()) as { id: number }).id;
}

async function upload(page: Page, project: string, name: string, buffer: Buffer): Promise<void> {
  await page.getByLabel(`Upload file to ${project}`, { exact: true }).setInputFiles({
    name,
    mimeType: "application/octet-stream",
    buffer,
  });
}

/** The file's bytes as stored at the core, read through the BFF with the page's own cookie. */
async function storedBytes(page: Page, projectId: number, name: string): Promise<Buffer | null> {
  const answer = await page.request.get(`/api/v1/projects/${projectId}/files/${encodeURIComponent(name)}`, {
    headers: { "X-CSRF": "1" },
  });
  if (answer.status() === 404) return null;
  expect(answer.status()).toBe(200);
  return answer.body();
}

test.beforeEach(async ({ page }) => {
  await page.goto("/projects");
  await expect(page.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();
});

test("an upload shows its progress and can be cancelled", async ({ page }) => {
  const project = unique("Transfers");
  const projectId = await createProject(page, project);
  const card = projectItem(page, project);

  // Hold the upload at the network so it is still under way while the test looks at it.
  let held = false;
  await page.route(
    (url) => url.pathname.endsWith("/files/slow.bin"),
    async (route) => {
      held = true;
      await new Promise((resolve) => setTimeout(resolve, 20_000));
      await route.abort().catch(() => undefined);
    },
  );
  await upload(page, project, "slow.bin", randomBytes(512 * 1024));
  const progress = card.getByRole("progressbar", { name: "Uploading slow.bin" });
  await expect(progress).toBeVisible();
  await expect(progress).toHaveAttribute("aria-valuetext", /^\d{1,3}%$/);
  await expect(card.getByText(/Uploading slow\.bin: \d{1,3}%/)).toBeVisible();
  await expect.poll(() => held).toBe(true);
  await auditBoth(page, "upload in progress");

  await card.getByRole("button", { name: "Cancel upload" }).click();
  await expect(card.getByRole("status")).toHaveText("Upload of slow.bin cancelled.");
  await expect(progress).toHaveCount(0);
  // Focus does not fall to the body when the Cancel button goes.
  await expect(card.getByRole("button", { name: `Choose file to upload to ${project}` })).toBeFocused();
  await page.unrouteAll({ behavior: "ignoreErrors" });
  expect(await storedBytes(page, projectId, "slow.bin")).toBeNull();
  await expect(card.getByRole("row", { name: /slow\.bin/ })).toHaveCount(0);

  // The zone works again afterwards, and reports the finished upload.
  await upload(page, project, "fast.bin", randomBytes(1024));
  await expect(card.getByRole("button", { name: "Download fast.bin" })).toBeVisible();
  await expect(card.getByRole("status")).toHaveText("Uploaded fast.bin.");
});

test("uploading a name that exists asks first; cancel keeps the old file", async ({ page }) => {
  const project = unique("Overwrite");
  const projectId = await createProject(page, project);
  const card = projectItem(page, project);
  const first = Buffer.from("first version\n");
  const second = Buffer.from("second version\n");
  await upload(page, project, "notes.txt", first);
  await expect(card.getByRole("button", { name: "Download notes.txt" })).toBeVisible();

  await upload(page, project, "notes.txt", second);
  const dialog = page.getByRole("dialog", { name: "Replace notes.txt?" });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText("cancel to keep it");
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await auditBoth(page, "replace file dialog");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toHaveCount(0);
  expect(await storedBytes(page, projectId, "notes.txt")).toEqual(first);

  await upload(page, project, "notes.txt", second);
  await page.getByRole("dialog", { name: "Replace notes.txt?" }).getByRole("button", { name: "Replace file" }).click();
  await expect(card.getByRole("status")).toHaveText("Uploaded notes.txt.");
  await expect.poll(() => storedBytes(page, projectId, "notes.txt")).toEqual(second);
});

test("deleting a file asks first, naming it; focus goes back or to the Files heading", async ({ page }) => {
  const project = unique("Deletions");
  const projectId = await createProject(page, project);
  const card = projectItem(page, project);
  await upload(page, project, "keep-or-not.txt", Buffer.from("x"));
  const deleteButton = card.getByRole("button", { name: "Delete keep-or-not.txt" });
  await expect(deleteButton).toBeVisible();

  await deleteButton.click();
  const dialog = page.getByRole("dialog", { name: "Delete keep-or-not.txt?" });
  await expect(dialog).toContainText(`keep-or-not.txt is removed from ${project}`);
  await auditBoth(page, "delete file dialog");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(deleteButton).toBeFocused();
  expect(await storedBytes(page, projectId, "keep-or-not.txt")).not.toBeNull();

  await deleteButton.click();
  await dialog.getByRole("button", { name: "Delete file" }).click();
  await expect(deleteButton).toHaveCount(0);
  await expect(card.getByRole("heading", { name: "Files", level: 3 })).toBeFocused();
  expect(await storedBytes(page, projectId, "keep-or-not.txt")).toBeNull();
  await expect(card.getByText("No files yet.")).toBeVisible();
});

test("a download is the browser's own, through a ticket link; the page never reads the file", async ({ page }) => {
  const project = unique("Downloads");
  await createProject(page, project);
  const card = projectItem(page, project);
  const content = randomBytes(300 * 1024);
  await upload(page, project, "data set.bin", content);
  const button = card.getByRole("button", { name: "Download data set.bin" });
  await expect(button).toBeVisible();

  const requests: Request[] = [];
  page.on("request", (r) => requests.push(r));
  const saved = page.waitForEvent("download");
  await button.click();
  const download = await saved;
  expect(download.suggestedFilename()).toBe("data set.bin");
  expect(Buffer.compare(await readFile(await download.path()), content)).toBe(0);

  // The page asked for a ticket (POST /bff/downloads) and the browser fetched the ticket's link itself.
  const tickets = requests.filter((r) => new URL(r.url()).pathname === "/bff/downloads");
  expect(tickets.map((r) => r.method())).toEqual(["POST"]);
  expect(download.url()).toMatch(/\/bff\/downloads\/[A-Za-z0-9_.-]+$/);
  expect(download.url()).not.toContain("data");
  // No fetch or XHR of the file's bytes by the page.
  const pageReads = requests.filter(
    (r) =>
      (r.resourceType() === "fetch" || r.resourceType() === "xhr") &&
      (/\/files\/data/.test(r.url()) || /\/bff\/downloads\/./.test(r.url())),
  );
  expect(pageReads.map((r) => r.url())).toEqual([]);
  await expect(button).toBeEnabled();
});

test("a ticket link is useless to another browser", async ({ page, browser }) => {
  const project = unique("Stolen link");
  await createProject(page, project);
  await upload(page, project, "secret.txt", Buffer.from("secret"));
  await expect(projectItem(page, project).getByRole("button", { name: "Download secret.txt" })).toBeVisible();
  const ticket = await page.evaluate(async (name) => {
    const list = (await (
      await fetch("/api/v1/projects?limit=100", { headers: { "X-CSRF": "1" } })
    ).json()) as { items: { id: number; name: string }[] };
    const id = list.items.find((item) => item.name === name)?.id ?? 0;
    const answer = await fetch("/bff/downloads", {
      method: "POST",
      headers: { "X-CSRF": "1", "Content-Type": "application/json" },
      body: JSON.stringify({ path: `/api/v1/projects/${id}/files/secret.txt` }),
    });
    return ((await answer.json()) as { url: string }).url;
  }, project);
  const other = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  try {
    const answer = await other.request.get(new URL(ticket, page.url()).href);
    expect(answer.status()).toBe(401);
    expect(await answer.text()).not.toContain("secret\n");
  } finally {
    await other.close();
  }
});

test("files dropped on the zone are uploaded", async ({ page }) => {
  const project = unique("Dropped");
  const projectId = await createProject(page, project);
  const zone = page.getByRole("group", { name: `Upload files to ${project}` });
  await expect(zone).toHaveAccessibleDescription("Drop files here, or");
  const dataTransfer = await page.evaluateHandle(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(["dropped bytes"], "dropped.txt", { type: "text/plain" }));
    return transfer;
  });
  await zone.dispatchEvent("dragenter", { dataTransfer });
  await expect(zone).toHaveClass(/dragging/);
  await zone.dispatchEvent("drop", { dataTransfer });
  await expect(zone).not.toHaveClass(/dragging/);
  await expect(projectItem(page, project).getByRole("button", { name: "Download dropped.txt" })).toBeVisible();
  expect((await storedBytes(page, projectId, "dropped.txt"))?.toString()).toBe("dropped bytes");
});
