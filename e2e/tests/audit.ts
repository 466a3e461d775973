/**
 * What every page and state of the SPA must pass, at a desktop and at a phone viewport (issue 14):
 * axe-core finds nothing, nothing scrolls sideways, every visible control sits inside the viewport, and
 * focus is on a named element rather than on the page body.
 */
import AxeBuilder from "@axe-core/playwright";
import { type Page, expect, test } from "@playwright/test";

/** The two sizes every page is checked at. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 375, height: 812 },
} as const;

export type ViewportName = keyof typeof VIEWPORTS;

/** Run `body` once per viewport, each as its own test named "<title> at <viewport>". */
export function atEachViewport(title: string, body: (page: Page, viewport: ViewportName) => Promise<void>): void {
  for (const name of Object.keys(VIEWPORTS) as ViewportName[]) {
    test(`${title} at ${name}`, async ({ page }) => {
      await page.setViewportSize(VIEWPORTS[name]);
      await body(page, name);
    });
  }
}

/** axe-core (WCAG 2.x A and AA rules and best practices) finds no violation on the page as it is now. */
export async function expectNoAxeViolations(page: Page, state: string): Promise<void> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"])
    .analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact ?? "?"}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
  expect(found, `axe violations in state "${state}"`).toEqual([]);
}

/** Nothing scrolls sideways, and every visible button, link and field lies inside the viewport's width. */
export async function expectFitsViewport(page: Page, state: string): Promise<void> {
  const { scrollWidth, innerWidth, outside } = await page.evaluate(() => {
    const width = window.innerWidth;
    const controls = Array.from(document.querySelectorAll<HTMLElement>("button, a[href], input, select, textarea"));
    const outsideControls = controls
      .filter((el) => {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) return false; // not rendered
        const style = window.getComputedStyle(el);
        if (style.visibility === "hidden") return false;
        // A visually hidden control (clip-path or a 1px box) is not one the user aims at.
        if (box.width <= 1 && box.height <= 1) return false;
        return box.left < -0.5 || box.right > width + 0.5;
      })
      .map((el) => `${el.tagName.toLowerCase()} "${el.getAttribute("aria-label") ?? el.textContent?.trim() ?? ""}"`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, outside: outsideControls };
  });
  expect(scrollWidth, `horizontal overflow in state "${state}"`).toBeLessThanOrEqual(innerWidth);
  expect(outside, `controls outside the viewport in state "${state}"`).toEqual([]);
}

/** Focus is on a named element, never left on the page body (after an action, a dialog, a route change). */
export async function expectFocusNamed(page: Page, state: string): Promise<string> {
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return "";
    const label =
      el.getAttribute("aria-label") ??
      (el.getAttribute("aria-labelledby")
        ? document.getElementById(el.getAttribute("aria-labelledby") ?? "")?.textContent
        : null) ??
      (el instanceof HTMLInputElement && el.labels && el.labels.length > 0 ? (el.labels[0]?.textContent ?? null) : null) ??
      el.textContent;
    return `${el.tagName.toLowerCase()}:${(label ?? "").trim()}`;
  });
  expect(focused, `focus fell to the page body in state "${state}"`).not.toBe("");
  expect(focused, `focused element has no name in state "${state}"`).not.toMatch(/:$/);
  return focused;
}

/**
 * `audit` the page as it is now at the desktop size, then at the phone size, and back to desktop: one page
 * load covers both sizes (a dialog stays open across the resize).
 */
export async function auditBoth(page: Page, state: string): Promise<void> {
  await page.setViewportSize(VIEWPORTS.desktop);
  await audit(page, `${state} (desktop)`);
  await page.setViewportSize(VIEWPORTS.phone);
  await audit(page, `${state} (phone)`);
  await page.setViewportSize(VIEWPORTS.desktop);
}

/** The three checks of a page state: axe, fit, and (when asked) the focused element's name. */
export async function audit(page: Page, state: string): Promise<void> {
  await expectNoAxeViolations(page, state);
  await expectFitsViewport(page, state);
}
