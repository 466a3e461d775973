import { useEffect, useId, useState, type SubmitEvent } from "react";
import { Navigate, useLocation, useSearchParams } from "react-router-dom";
import { useAction } from "../app/useAction";
import { END_REASON_MESSAGES, useAuth } from "../app/auth";
import { ProblemError, type LoginMethods } from "@latchkey/client";
import { api } from "../app/latchkey";
import { loginChoices, providerErrorMessage } from "../app/signInMethods";
import { describeError } from "../lib/format";

function loginError(error: unknown): string {
  if (error instanceof ProblemError) {
    if (error.code === "invalid_credentials") return "Wrong email or password";
    if (error.code === "rate_limited" || error.status === 429) {
      return error.retryAfter
        ? `Too many attempts. Try again in ${error.retryAfter} seconds.`
        : "Too many attempts. Try again later.";
    }
    if (error.status === 503) return "The service is busy. Try again in a moment.";
  }
  return describeError(error);
}

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
  const { busy, error, run } = useAction(loginError);
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
    setShowReason(false);
    const signedIn = await run(() => login(email.trim(), password).then(() => true));
    if (!signedIn) setPassword("");
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
        {error && (
          <p role="alert" className="message error">
            {error}
          </p>
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
            <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
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
