import path from "node:path";

import { defineConfig } from "@playwright/test";

import { BFF_URL, MEMBER_STATE } from "./tests/support";

// Debian's Chromium, never a downloaded browser build (`npx playwright install` is not used).
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const python = process.env.LATCHKEY_PYTHON ?? path.resolve(__dirname, "..", ".venv", "bin", "python");

export default defineConfig({
  testDir: "tests",
  outputDir: "test-results",
  // One worker: the tests share one set of servers, and several of them wait out short timeouts.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [["list"]],
  use: {
    baseURL: BFF_URL,
    browserName: "chromium",
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: chromium,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    // Signs in once through the form and saves the cookie (storage state) for the other tests.
    { name: "setup", testMatch: /.*\.setup\.ts/ },
    {
      name: "e2e",
      testMatch: /.*\.spec\.ts/,
      dependencies: ["setup"],
      use: { storageState: MEMBER_STATE },
    },
  ],
  webServer: {
    // Core + BFF pairs on fixed ports, seeded through the CLI; the SPA must already be built.
    command: `"${python}" serve.py`,
    cwd: __dirname,
    url: `${BFF_URL}/readyz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 15_000 },
  },
});
