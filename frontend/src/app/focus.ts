/** Where focus goes when a dialog closes (ConfirmDialog, ReauthDialog). */

/** How long after a dialog closed its trigger may still disappear (the action removed its row). */
const SETTLE_MS = 1500;

/** The page's heading, the named place focus falls back to (made focusable with tabIndex=-1). */
export function pageHeading(): HTMLElement | null {
  const heading = document.querySelector<HTMLElement>("main h1") ?? document.querySelector<HTMLElement>("h1");
  if (heading && !heading.hasAttribute("tabindex")) heading.tabIndex = -1;
  return heading;
}

function focusable(element: HTMLElement | null): element is HTMLElement {
  return element !== null && element.isConnected && !(element as HTMLButtonElement).disabled;
}

/** Whether focus is lost: on the body, or nowhere. */
function lost(): boolean {
  const active = document.activeElement;
  return active === null || active === document.body || active === document.documentElement;
}

/**
 * Give focus back to `trigger` (the control that opened the dialog); when it is gone or cannot take focus,
 * to `fallback()` (e.g. the section's heading), else to the page's heading. If the trigger disappears a
 * moment later (the confirmed action removed it, and focus fell to the body), focus goes to the fallback
 * then. Returns a function that stops watching.
 */
export function restoreFocus(trigger: HTMLElement | null, fallback?: () => HTMLElement | null): () => void {
  const place = () => {
    const target = fallback?.() ?? pageHeading();
    // A heading or section is not focusable by itself: tabIndex=-1 lets a script (only) focus it.
    if (target && !target.hasAttribute("tabindex")) target.tabIndex = -1;
    target?.focus();
  };
  if (focusable(trigger)) trigger.focus();
  if (lost()) place();

  const observer = new MutationObserver(() => {
    if (!lost()) return;
    // The trigger may only have been disabled while its action ran (then it is the right place again).
    if (focusable(trigger)) trigger.focus();
    if (lost()) place();
    stop();
  });
  const timer = window.setTimeout(() => stop(), SETTLE_MS);
  // The user moves on: where focus goes is theirs.
  document.addEventListener("pointerdown", stop, true);
  document.addEventListener("keydown", stop, true);
  function stop(): void {
    observer.disconnect();
    window.clearTimeout(timer);
    document.removeEventListener("pointerdown", stop, true);
    document.removeEventListener("keydown", stop, true);
  }
  observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["disabled", "hidden"] });
  return stop;
}
