import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { Navigate, useLocation, useSearchParams } from "react-router-dom";
import { useAction } from "../app/useAction";
import { END_REASON_MESSAGES, useAuth } from "../app/auth";
import type { LoginMethods } from "@latchkey/client";
import { api } from "../app/latchkey";
import { loginChoices, providerErrorMessage } from "../app/signInMethods";
import { formatCountdown, useCountdown } from "../lib/countdown";
import { loginFailure, type LoginFailure } from "../lib/loginFailure";
import "./sessions.css";

/** What `/bff/login/methods` offers (null until it answers, and when it cannot be read). */
function useLoginMethods(): LoginMethods | null {
  const [methods, setMethods] = useState<LoginMethods | null>(null);
  useEffect(() => {
    let current = true;
    api.loginMethods().then(
      (answer) => {
        if (current) setMethods(answer);
      },
      () => undefined, // the password form stays, as without a provider
    );
    return () => {
      current = false;
    };
  }, []);
  return methods;
}

export function LoginPage() {
  const { status, reason: endReason, login, loginWithProvider } = useAuth();
  const location = useLocation();
  const [search] = useSearchParams();
  const methods = useLoginMethods();
  const choices = loginChoices(methods);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, run } = useAction();
  const [failure, setFailure] = useState<LoginFailure | null>(null);
  const lockedFor = useCountdown(failure?.lockedUntil ?? null);
  const locked = failure?.lockedUntil != null && lockedFor > 0;
  // After a failed sign-in focus goes to what went wrong, so a screen reader reads it first.
  const failureRef = useRef<HTMLDivElement>(null);
  // The reason the app came here is shown until the user tries to sign in again.
  const [showReason, setShowReason] = useState(true);
  const emailId = useId();
  const passwordId = useId();

  const from = (location.state as { from?: string } | null)?.from;
  const destination = from && !from.startsWith("/login") ? from : "/projects";
  if (status === "signed-in") {
    return <Navigate to={destination} replace />;
  }

  const reason = status === "signed-out" && showReason && endReason !== "logged_out" ? endReason : null;
  // The provider's sign-in came back here with `?error=<code>` (SPEC §11).
  const providerError = showReason ? providerErrorMessage(search.get("error"), choices.provider?.name ?? null) : null;

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    if (locked) return;
    setShowReason(false);
    setFailure(null);
    const signedIn = await run(() =>
      login(email.trim(), password).then(
        () => true,
        (caught: unknown) => {
          setFailure(loginFailure(caught));
          return false;
        },
      ),
    );
    if (!signedIn) {
      setPassword("");
      // After React has drawn the message.
      window.setTimeout(() => failureRef.current?.focus(), 0);
    }
  }

  return (
    <main className="login-page">
      <div className="login-card card">
        <div className="login-brand" aria-hidden="true">
          <svg viewBox="0 0 32 32" width="36" height="36" focusable="false">
            <rect width="32" height="32" rx="7" fill="currentColor" />
            <circle cx="12" cy="16" r="5" fill="none" stroke="#fff" strokeWidth="3" />
            <path d="M17 16h10v4m-4-4v3" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
          </svg>
          <span>Latchkey</span>
        </div>
        <h1>Sign in</h1>
        {providerError && (
          <p role="alert" className="message error">
            {providerError}
          </p>
        )}
        {reason && !providerError && (
          <p role="alert" className="message warning">
            {END_REASON_MESSAGES[reason]}
          </p>
        )}
        {failure && (
          <div ref={failureRef} tabIndex={-1} className="message error login-failure" aria-label="Sign-in failed">
            <p role="alert">
              {failure.message}
              {failure.warning && <strong className="login-warning"> {failure.warning}</strong>}
            </p>
            {failure.lockedUntil !== null &&
              (locked ? (
                // Not a live region: the countdown changes every second; the alert above is read once.
                <p className="login-countdown">
                  Try again in <span className="mono">{formatCountdown(lockedFor)}</span>
                  <span className="visually-hidden"> (minutes and seconds)</span>.
                </p>
              ) : (
                <p role="status" className="login-countdown">
                  You can try again now.
                </p>
              ))}
          </div>
        )}
        {choices.password && (
          <form className="stack" onSubmit={(event) => void submit(event)}>
            <div className="field">
              <label htmlFor={emailId}>Email</label>
              <input
                id={emailId}
                type="email"
                autoComplete="username"
                required
                autoFocus
                value={email}
                onChange={(event) => setEmail(event.target.value)}
              />
            </div>
            <div className="field">
              <label htmlFor={passwordId}>Password</label>
              <input
                id={passwordId}
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(event) => setPassword(event.target.value)}
              />
            </div>
            <button type="submit" className="btn btn-primary btn-block" disabled={busy || locked}>
              Sign in
            </button>
          </form>
        )}
        {choices.password && choices.provider && (
          <p className="login-divider" aria-hidden="true">
            <span>or</span>
          </p>
        )}
        {choices.provider && (
          <button
            type="button"
            className={choices.password ? "btn btn-block" : "btn btn-primary btn-block"}
            onClick={() => {
              setShowReason(false);
              loginWithProvider({ returnTo: destination });
            }}
          >
            Sign in with {choices.provider.name}
          </button>
        )}
      </div>
    </main>
  );
}
