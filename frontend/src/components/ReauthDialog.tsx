import { ProblemError, useReauthPrompt } from "@latchkey/client";
import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { useAction } from "../app/useAction";
import { describeError } from "../lib/format";

function reauthError(error: unknown): string {
  return error instanceof ProblemError && error.code === "invalid_credentials"
    ? "Wrong password. Try again."
    : describeError(error);
}

/**
 * The password prompt for `reauth_required` (`useReauthPrompt` of `@latchkey/client`): it opens when a
 * sensitive call needs a recent password, posts `/bff/reauthenticate`, and lets the client retry the
 * original call once. Cancelling leaves the call failed; an ended session closes it (the app then shows
 * the login page, which says why).
 */
export function ReauthDialog({ email }: { email: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const prompt = useReauthPrompt();
  const open = prompt.pending;
  const [password, setPassword] = useState("");
  const { busy, error, setError, run } = useAction(reauthError);
  const titleId = useId();
  const passwordId = useId();

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);

  // The next prompt starts empty: the password and the message go when this one closes.
  function cancel(): void {
    setPassword("");
    setError(null);
    prompt.cancel();
  }

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const confirmed = await run(() => prompt.confirm(password).then(() => true));
    if (confirmed) setPassword("");
  }

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        cancel();
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
            <button type="button" className="btn" onClick={cancel}>
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
