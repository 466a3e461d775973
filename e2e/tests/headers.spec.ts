/** The served SPA carries its security headers, and the app runs under that CSP without violations. */
import { expect, test } from "@playwright/test";

const SECURITY = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

test("the SPA, its deep links and its assets carry CSP, nosniff and Referrer-Policy", async ({ page, request }) => {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      violations.push(message.text());
    }
  });
  const assets: string[] = [];
  page.on("response", (response) => {
    if (new URL(response.url()).pathname.startsWith("/assets/")) {
      assets.push(response.url());
    }
  });

  for (const path of ["/", "/projects", "/profile/developer-settings"]) {
    const answer = await page.goto(path);
    expect(answer, path).not.toBeNull();
    expect(answer!.headers(), path).toMatchObject({ ...SECURITY, "cache-control": "no-cache" });
    expect(answer!.headers()["content-type"]).toContain("text/html");
  }
  await expect(page.getByRole("heading", { name: "Developer Settings" })).toBeVisible();
  expect(violations).toEqual([]);

  // Content-hashed assets: the same headers, and cached for good.
  expect(assets.length).toBeGreaterThan(0);
  for (const url of new Set(assets)) {
    const asset = await request.get(url);
    expect(asset.status(), url).toBe(200);
    expect(asset.headers(), url).toMatchObject({
      ...SECURITY,
      "cache-control": "public, max-age=31536000, immutable",
    });
  }
  // A missing asset is a 404 (with the headers), never index.html served as a script.
  const missing = await request.get("/assets/missing-0000.js");
  expect(missing.status()).toBe(404);
  expect(missing.headers()).toMatchObject(SECURITY);
});
