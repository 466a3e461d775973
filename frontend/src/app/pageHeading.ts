import { useEffect, useRef } from "react";
import { useLocation } from "react-router-dom";

/** The name after every page's heading in the browser's title. */
export const APP_NAME = "Latchkey";

/** "<heading> · Latchkey", or the app's name alone while no page heading is shown. */
export function pageTitle(heading: string | null | undefined): string {
  const text = heading?.replace(/\s+/g, " ").trim();
  return text ? `${text} · ${APP_NAME}` : APP_NAME;
}

/**
 * Whether moving focus to the new page's heading would take it from something the user is using: a
 * dialog, or a control inside the page (they started typing before the page's heading appeared). Focus on
 * the body, or left on the link or button that navigated (in the top bar), is fair to move.
 */
export function focusIsInUse(active: Element | null, page: Element | null): boolean {
  if (active === null || active === document.body || active === document.documentElement) return false;
  if (active.closest("dialog[open]")) return true;
  return page !== null && page.contains(active) && active.tagName !== "H1";
}

/**
 * The shell's part of every route change (used once, in `App`): `document.title` follows the page's `<h1>`
 * ("Projects · Latchkey"), also when that heading renders later (after a load) or changes; and after a
 * route change focus moves to that `<h1>` (made focusable with tabIndex=-1), so a screen reader announces
 * the new page and Tab continues from its top. Pages need no code of their own for either.
 *
 * Focus is not moved on the document's first page (the browser starts at the top, and the title is read),
 * nor when `focus` is false (the login page: its email field keeps its autofocus), nor when the user is
 * already in a dialog or a field of the new page.
 */
export function usePageHeading(root: () => HTMLElement | null, options: { focus: boolean }): void {
  const location = useLocation();
  const firstRoute = useRef(true);
  const focusWanted = options.focus;

  // The title, whenever the heading appears or changes.
  useEffect(() => {
    const container = root();
    if (!container) return;
    const update = () => {
      const title = pageTitle(container.querySelector("h1")?.textContent);
      if (document.title !== title) document.title = title;
    };
    update();
    const observer = new MutationObserver(update);
    observer.observe(container, { childList: true, subtree: true, characterData: true });
    return () => observer.disconnect();
  }, [root]);

  // Focus, once per route change, as soon as the new page's heading is there.
  useEffect(() => {
    const first = firstRoute.current;
    firstRoute.current = false;
    const container = root();
    if (first || !focusWanted || !container) return;
    const focusHeading = (): boolean => {
      const heading = container.querySelector("h1");
      if (!heading) return false;
      if (!focusIsInUse(document.activeElement, container.querySelector("main") ?? container)) {
        if (!heading.hasAttribute("tabindex")) heading.tabIndex = -1;
        // Scrolling stays the page's business (a page may scroll to one of its sections on arrival).
        heading.focus({ preventScroll: true });
      }
      return true;
    };
    if (focusHeading()) return;
    const observer = new MutationObserver(() => {
      if (focusHeading()) observer.disconnect();
    });
    observer.observe(container, { childList: true, subtree: true });
    return () => observer.disconnect();
  }, [root, location.pathname, focusWanted]);
}
