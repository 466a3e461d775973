import { ProblemError, useReauthPrompt, useSession, type LoginMethods, type Me } from "@latchkey/client";
import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { currentFocus, restoreFocus } from "../app/focus";
import { api } from "../app/latchkey";
import { reauthChoice } from "../app/signInMethods";
import { useAction } from "../app/useAction";
import { describeError } from "../lib/format";

/** Set when the BFF said this session must confirm at the provider (409 `reauth_with_provider`). */
const PROVIDER_ONLY = "reauth_with_provider";

function reauthError(error: unknown): string {
  return error instanceof ProblemError && error.code === "invalid_credentials"
    ? "Wrong password. Try again."
    : describeError(error);
}

/** The provider's name (when the BFF has one) and how the account signs in, read when the dialog opens. */
function useReauthContext(open: boolean): { providerName: string | null; me: Me | null } {
  const [methods, setMethods] = useState<LoginMethods | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    if (!open) return;
    let current = true;
    api.loginMethods().then(
      (answer) => current && setMethods(answer),
      () => undefined,
    );
    api.getMe().then(
      (answer) => current && setMe(answer),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [open]);
  const providerName = methods?.methods.includes("oidc") && methods.oidc ? methods.oidc.name : null;
  return { providerName, me };
}

/**
 * The confirmation for `reauth_required` (`useReauthPrompt` of `@latchkey/client`): it opens when a
 * sensitive call needs a recent sign-in, and lets the client retry the original call once. With a password
 * it posts `/bff/reauthenticate`; a session from the identity provider confirms there instead (SPEC §11):
 * "Confirm with <name>" navigates to `/bff/login/oidc?prompt=login&return_to=<this page>`, and the action is
 * done again on return. Cancelling leaves the call failed; an ended session closes it (the app then shows
 * the login page, which says why).
 *
 * Focus: in the password field when it opens (the modal dialog keeps it inside); after a wrong password it
 * is back in the field, which is described by the announced error; on close it returns to the control
 * that started the action (or, if that is gone, the page's heading). Cancel fails the waiting calls with
 * `reauth_cancelled`, which the app shows no error for.
 */
export function ReauthDialog({ email }: { email: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const prompt = useReauthPrompt();
  const { loginWithProvider } = useSession();
  const open = prompt.pending;
  const { providerName, me } = useReauthContext(open);
  const [providerOnly, setProviderOnly] = useState(false);
  const [password, setPassword] = useState("");
  const { busy, error, setError, run } = useAction(reauthError);
  const titleId = useId();
  const passwordId = useId();
  const errorId = useId();
  const passwordField = useRef<HTMLInputElement>(null);
  const trigger = useRef<HTMLElement | null>(null);
  const choice = reauthChoice(me, providerName, providerOnly);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) {
      trigger.current = currentFocus();
      element.showModal();
    }
    if (!open && element.open) {
      element.close();
      const back = trigger.current;
      trigger.current = null;
      restoreFocus(back);
    }
  }, [open]);

  // The next prompt starts empty: the password and the message go when this one closes.
  function cancel(): void {
    setPassword("");
    setError(null);
    prompt.cancel();
  }

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const confirmed = await run(async () => {
      try {
        await prompt.confirm(password);
        return true;
      } catch (caught) {
        if (caught instanceof ProblemError && caught.code === PROVIDER_ONLY) {
          setProviderOnly(true);
          return false;
        }
        throw caught;
      }
    });
    if (confirmed !== undefined) {
      setPassword("");
    } else {
      // Wrong password (or another failure): the field again, its text selected to type over.
      passwordField.current?.focus();
      passwordField.current?.select();
    }
  }

  const offersPassword = choice !== "provider";
  const offersProvider = choice !== "password" && providerName !== null;

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
          <h2 id={titleId}>{offersPassword ? "Confirm your password" : "Confirm it is you"}</h2>
          <p className="muted">
            {offersPassword
              ? "For your security, this action needs your password again."
              : `For your security, this action needs you to sign in at ${providerName ?? "the identity provider"} again. You come back to this page; then do the action once more.`}
          </p>
          {offersPassword && (
            <>
              <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
              <div className="field">
                <label htmlFor={passwordId}>Password</label>
                <input
                  ref={passwordField}
                  id={passwordId}
                  type="password"
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errorId : undefined}
                  autoComplete="current-password"
                  required
                  autoFocus
                  value={password}
                  onChange={(event) => setPassword(event.target.value)}
                />
              </div>
            </>
          )}
          {error && (
            <p id={errorId} role="alert" className="message error">
              {error}
            </p>
          )}
          <div className="actions end">
            <button type="button" className="btn" onClick={cancel}>
              Cancel
            </button>
            {offersProvider && (
              <button
                type="button"
                className={offersPassword ? "btn" : "btn btn-primary"}
                onClick={() => loginWithProvider({ prompt: "login" })}
              >
                Confirm with {providerName}
              </button>
            )}
            {offersPassword && (
              <button type="submit" className="btn btn-primary" disabled={busy}>
                Confirm
              </button>
            )}
          </div>
        </form>
      )}
    </dialog>
  );
}
