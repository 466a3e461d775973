/** Where focus goes when a dialog closes (ConfirmDialog, ReauthDialog). */

/** How long after a dialog closed its trigger may still disappear (the action removed its row). */
const SETTLE_MS = 1500;

/** The element that had focus last (a button disabled while its action runs loses focus to the body). */
let lastFocused: HTMLElement | null = null;
if (typeof document !== "undefined") {
  document.addEventListener("focusin", (event) => {
    if (event.target instanceof HTMLElement && event.target !== document.body) lastFocused = event.target;
  });
}

/**
 * The control the user is on: the focused element, or, when focus just fell to the body (the button they
 * pressed was disabled while its action runs), the one that had it last. What a dialog returns focus to.
 */
export function currentFocus(): HTMLElement | null {
  const active = document.activeElement;
  if (active instanceof HTMLElement && active !== document.body) return active;
  return lastFocused?.isConnected ? lastFocused : null;
}

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
 * Give focus back to `trigger` (the control that opened the dialog); when it is gone, to `fallback()` (e.g.
 * the section's heading), else to the page's heading. A trigger that is only disabled while its action
 * finishes gets focus back as soon as it is enabled (the fallback holds it meanwhile); one that disappears a
 * moment later (the confirmed action removed its row) hands focus to the fallback then. Watching ends after
 * a short while or as soon as the user clicks or types. Returns a function that stops watching.
 */
export function restoreFocus(trigger: HTMLElement | null, fallback?: () => HTMLElement | null): () => void {
  let placed: HTMLElement | null = null;
  const place = () => {
    const target = fallback?.() ?? pageHeading();
    // A heading or section is not focusable by itself: tabIndex=-1 lets a script (only) focus it.
    if (target && !target.hasAttribute("tabindex")) target.tabIndex = -1;
    target?.focus();
    placed = target;
  };
  /** Focus where it belongs now; true once it is on the trigger (nothing more to wait for). */
  const settle = (): boolean => {
    if (focusable(trigger) && (lost() || document.activeElement === placed || document.activeElement === trigger)) {
      trigger.focus();
      if (document.activeElement === trigger) return true;
    }
    if (lost()) place();
    return false;
  };
  if (settle()) return () => undefined;

  const observer = new MutationObserver(() => {
    if (settle()) stop();
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
  observer.observe(document.body, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["disabled", "hidden", "class"],
  });
  return stop;
}
