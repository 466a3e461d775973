import { ProblemError } from "@latchkey/client";
import { useId, useRef, useState, type SubmitEvent } from "react";
import { useAction } from "../app/useAction";
import { useAuth, useUser } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { signInDescription } from "../app/signInMethods";
import { DeveloperSettingsSummary } from "../developer/DeveloperSettingsSummary";
import { describeError, formatDate } from "../lib/format";
import "./profile.css";

/** The core's password policy (`latchkey/core/security/passwords.py`), shown before the first submit; the
 * core still decides (422 `weak_password`). */
export const MIN_PASSWORD_LENGTH = 8;

interface PasswordErrors {
  current?: string;
  next?: string;
  /** A failure that belongs to no field (the network, the service). */
  form?: string;
}

/** Which field a failed change belongs to, in words. */
export function passwordChangeErrors(error: unknown): PasswordErrors {
  if (error instanceof ProblemError) {
    switch (error.code) {
      case "invalid_password":
        return { current: "The current password is wrong." };
      case "weak_password":
        return { next: `Use at least ${MIN_PASSWORD_LENGTH} characters.` };
      case "password_too_long":
        return { next: describeError(error) };
      case "password_unchanged":
        return { next: "The new password is the same as the current one: choose a different one." };
    }
  }
  return { form: describeError(error) };
}

function ChangePassword({ email }: { email: string }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const [errors, setErrors] = useState<PasswordErrors>({});
  const { busy, run } = useAction();
  const currentInput = useRef<HTMLInputElement>(null);
  const nextInput = useRef<HTMLInputElement>(null);
  const currentId = useId();
  const nextId = useId();
  const currentErrorId = useId();
  const nextErrorId = useId();
  const hintId = useId();
  const headingId = useId();

  /** Show `found` at their fields, and focus the first field in error. */
  function report(found: PasswordErrors): void {
    setErrors(found);
    if (found.current) currentInput.current?.focus();
    else if (found.next) nextInput.current?.focus();
  }

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    setDone(false);
    const found: PasswordErrors = {};
    if (!current) found.current = "Enter your current password.";
    if (!next) found.next = "Enter a new password.";
    else if (next.length < MIN_PASSWORD_LENGTH) found.next = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
    else if (next === current) found.next = "The new password is the same as the current one: choose a different one.";
    if (found.current ?? found.next) {
      report(found);
      return;
    }
    setErrors({});
    let failure: unknown = null;
    await run(async () => {
      try {
        await api.changePassword(current, next);
      } catch (caught) {
        failure = caught;
        return;
      }
      setCurrent("");
      setNext("");
      setDone(true);
    });
    if (failure !== null) report(passwordChangeErrors(failure));
  }

  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>Change password</h2>
      <p className="muted">Your other sessions are signed out when the password changes; this one stays.</p>
      <form className="stack narrow" noValidate onSubmit={(event) => void submit(event)}>
        {/* Lets password managers know whose password changes; not shown, not in the accessibility tree. */}
        <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
        <div className="field">
          <label htmlFor={currentId}>Current password</label>
          <input
            ref={currentInput}
            id={currentId}
            type="password"
            autoComplete="current-password"
            required
            aria-invalid={errors.current ? true : undefined}
            aria-describedby={errors.current ? currentErrorId : undefined}
            value={current}
            onChange={(event) => setCurrent(event.target.value)}
          />
          {errors.current && (
            <p id={currentErrorId} className="field-error">
              {errors.current}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={nextId}>New password</label>
          <input
            ref={nextInput}
            id={nextId}
            type="password"
            autoComplete="new-password"
            required
            minLength={MIN_PASSWORD_LENGTH}
            aria-invalid={errors.next ? true : undefined}
            aria-describedby={errors.next ? `${nextErrorId} ${hintId}` : hintId}
            value={next}
            onChange={(event) => setNext(event.target.value)}
          />
          <p id={hintId} className="muted small">
            At least {MIN_PASSWORD_LENGTH} characters, different from the current one.
          </p>
          {errors.next && (
            <p id={nextErrorId} className="field-error">
              {errors.next}
            </p>
          )}
        </div>
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Change password
          </button>
        </div>
        {done && (
          <p role="status" aria-label="Password changed" className="message success">
            Password changed
          </p>
        )}
        {errors.form && (
          <p role="alert" className="message error">
            {errors.form}
          </p>
        )}
      </form>
    </section>
  );
}

export function ProfilePage() {
  const user = useUser();
  const { epoch } = useAuth();
  // The live profile (how the account signs in, since when).
  const { data: me, error } = useResource(api.getMe, epoch);
  // The provider's name, for the sentence on how the account signs in.
  const { data: methods } = useResource(api.loginMethods);
  const providerName = methods?.oidc?.name ?? null;


  // The session's snapshot shows at once; /v1/me is the live source and replaces it when it answers.
  const profile = me ?? user;

  return (
    <>
      <div className="page-header">
        <div>
          <h1>My Profile</h1>
          <p className="muted">Your account, your password and your credentials for scripts and servers.</p>
        </div>
      </div>

      <section className="card" aria-label="Profile">
        <dl className="details">
          <div>
            <dt>Name</dt>
            <dd>{profile.name || "—"}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>{profile.email}</dd>
          </div>
          <div>
            <dt>Role</dt>
            <dd className="capitalize">{profile.role}</dd>
          </div>
          <div>
            <dt>Developer account</dt>
            <dd>{profile.is_developer ? "Yes" : "No"}</dd>
          </div>
          {me && (
            <div>
              <dt>Signs in</dt>
              <dd>{signInDescription(me, providerName)}</dd>
            </div>
          )}
          {me && (
            <div>
              <dt>Member since</dt>
              <dd>{formatDate(me.created_at)}</dd>
            </div>
          )}
        </dl>
        {error && (
          <p role="alert" className="message error">
            {error}
          </p>
        )}
      </section>

      {/* An account without a password (it signs in through the identity provider) has none to change. */}
      {me?.has_password !== false && <ChangePassword email={profile.email} />}

      <DeveloperSettingsSummary isDeveloper={profile.is_developer} />
    </>
  );
}
