import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { useAction } from "../app/useAction";
import { api } from "../lib/api";
import { bff } from "../lib/client";
import { describeError } from "../lib/format";
import { ProblemError } from "../lib/problem";

function reauthError(error: unknown): string {
  return error instanceof ProblemError && error.code === "invalid_credentials"
    ? "Wrong password. Try again."
    : describeError(error);
}

/**
 * The password prompt for `reauth_required`: registered as the client's re-authentication handler, it
 * opens when a sensitive call needs a recent password, posts `/bff/reauthenticate`, and lets the client
 * retry the original call once. Cancelling leaves the call failed.
 */
export function ReauthDialog({ email }: { email: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const settle = useRef<((confirmed: boolean) => void) | null>(null);
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState("");
  const { busy, error, setError, run } = useAction(reauthError);
  const titleId = useId();
  const passwordId = useId();

  useEffect(() => {
    bff.setReauthHandler(
      () =>
        new Promise<boolean>((resolve) => {
          settle.current = resolve;
          setPassword("");
          setError(null);
          setOpen(true);
        }),
    );
    return () => {
      bff.setReauthHandler(null);
      settle.current?.(false);
      settle.current = null;
    };
  }, [setError]);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);

  function finish(confirmed: boolean): void {
    settle.current?.(confirmed);
    settle.current = null;
    setPassword("");
    setOpen(false);
  }

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    await run(async () => {
      try {
        await api.reauthenticate(password);
      } catch (caught) {
        // The session is over: the dialog closes and the app goes to the login page, which says why.
        if (!(caught instanceof ProblemError && caught.endsSession)) throw caught;
        finish(false);
        return;
      }
      finish(true);
    });
  }

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        finish(false);
      }}
    >
      {open && (
        <form onSubmit={(event) => void submit(event)} className="stack">
          <h2 id={titleId}>Confirm your password</h2>
          <p className="muted">For your security, this action needs your password again.</p>
          <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
          <div className="field">
            <label htmlFor={passwordId}>Password</label>
            <input
              id={passwordId}
              type="password"
              autoComplete="current-password"
              required
              autoFocus
              value={password}
              onChange={(event) => setPassword(event.target.value)}
            />
          </div>
          {error && (
            <p role="alert" className="message error">
              {error}
            </p>
          )}
          <div className="actions end">
            <button type="button" className="btn" onClick={() => finish(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={busy}>
              Confirm
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
