/**
 * Asking before an action that cannot be taken back (refresh or revoke a token, end a session, log out
 * everywhere, delete or overwrite a file). A native modal `<dialog>`: the rest of the page is inert while it
 * is open, so focus stays inside; Escape and "Cancel" close it; on close, focus returns to the control that
 * opened it, or, when that control is gone (the action removed its row), to `fallbackFocus()` (e.g. the
 * section's heading) or else the page's heading; a caller that moves focus itself says `returnFocus={false}`. The confirm button names the action; the body names what will stop working.
 */
import { useEffect, useId, useRef, type ReactNode } from "react";
import { currentFocus, restoreFocus } from "../app/focus";

export interface ConfirmDialogProps {
  open: boolean;
  /** The question, as the dialog's heading (its accessible name), e.g. "Revoke token CI deploy?". */
  title: string;
  /** What happens, naming what stops working. */
  children: ReactNode;
  /** The confirm button's label, e.g. "Revoke token". */
  confirmLabel: string;
  /** A destructive action: the confirm button is red. Default true. */
  danger?: boolean;
  /** While the action runs: the buttons are disabled and the dialog stays open. */
  busy?: boolean;
  /** Why the action failed, shown in the dialog (which stays open). */
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
  /** Give focus back to the element that had it when the dialog opened (default true). */
  returnFocus?: boolean;
  /** Where focus goes if that element is gone when (or just after) the dialog closes; default: the page's h1. */
  fallbackFocus?: () => HTMLElement | null;
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  danger = true,
  busy = false,
  error = null,
  onConfirm,
  onCancel,
  returnFocus = true,
  fallbackFocus,
}: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const trigger = useRef<HTMLElement | null>(null);
  const shouldReturn = useRef(returnFocus);
  const fallback = useRef(fallbackFocus);
  useEffect(() => {
    shouldReturn.current = returnFocus;
    fallback.current = fallbackFocus;
  }, [returnFocus, fallbackFocus]);
  const titleId = useId();
  const bodyId = useId();

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) {
      trigger.current = currentFocus();
      element.showModal();
      // The safe choice has focus: Enter on a reflex does not destroy anything.
      cancelButton.current?.focus();
    }
    if (!open && element.open) {
      element.close();
      const back = trigger.current;
      trigger.current = null;
      // Not stopped on unmount: the dialog may leave with the row its action removed.
      if (shouldReturn.current) restoreFocus(back, fallback.current);
    }
  }, [open]);

  // Removed while open (its row went away): focus must not stay in a dialog that is no longer there.
  useEffect(
    () => () => {
      const back = trigger.current;
      if (back !== null && shouldReturn.current) restoreFocus(back, fallback.current);
    },
    [],
  );

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) onCancel();
      }}
    >
      {open && (
        <div className="stack">
          <h2 id={titleId}>{title}</h2>
          <div id={bodyId} className="dialog-body">
            {children}
          </div>
          {error && (
            <p role="alert" className="message error">
              {error}
            </p>
          )}
          <div className="actions end">
            <button ref={cancelButton} type="button" className="btn" disabled={busy} onClick={onCancel}>
              Cancel
            </button>
            <button
              type="button"
              className={danger ? "btn btn-danger" : "btn btn-primary"}
              disabled={busy}
              onClick={onConfirm}
            >
              {confirmLabel}
            </button>
          </div>
        </div>
      )}
    </dialog>
  );
}
