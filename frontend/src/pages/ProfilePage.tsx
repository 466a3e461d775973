import { ProblemError } from "@latchkey/client";
import { useEffect, useId, useState, type SubmitEvent } from "react";
import { useLocation } from "react-router-dom";
import { useAction } from "../app/useAction";
import { useAuth, useUser } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { signInDescription } from "../app/signInMethods";
import { DeveloperSettings } from "../components/DeveloperSettings";
import { describeError, formatDate } from "../lib/format";

export const DEVELOPER_SETTINGS_ID = "developer-settings";

function changePasswordError(error: unknown): string {
  return error instanceof ProblemError && error.code === "invalid_password"
    ? "The current password is wrong."
    : describeError(error);
}

function ChangePassword({ email }: { email: string }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction(changePasswordError);
  const currentId = useId();
  const nextId = useId();
  const headingId = useId();

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    setDone(false);
    await run(async () => {
      await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone(true);
    });
  }

  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>Change password</h2>
      <p className="muted">Your other sessions are signed out when the password changes; this one stays.</p>
      <form className="stack narrow" onSubmit={(event) => void submit(event)}>
        {/* Lets password managers know whose password changes; not shown, not in the accessibility tree. */}
        <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
        <div className="field">
          <label htmlFor={currentId}>Current password</label>
          <input
            id={currentId}
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(event) => setCurrent(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={nextId}>New password</label>
          <input
            id={nextId}
            type="password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(event) => setNext(event.target.value)}
          />
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
        {error && (
          <p role="alert" className="message error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}

export function ProfilePage() {
  const user = useUser();
  const { epoch } = useAuth();
  const location = useLocation();
  // The live profile, and the scopes the user's role allows (the token form offers exactly those).
  const { data: me, error } = useResource(api.getMe, epoch);
  // The provider's name, for the sentence on how the account signs in.
  const { data: methods } = useResource(api.loginMethods);
  const providerName = methods?.oidc?.name ?? null;
  const atDeveloperSettings = location.pathname.startsWith("/profile/developer-settings");

  useEffect(() => {
    if (atDeveloperSettings) {
      document.getElementById(DEVELOPER_SETTINGS_ID)?.scrollIntoView({ block: "start" });
    } else {
      window.scrollTo({ top: 0 });
    }
  }, [atDeveloperSettings, location.key]);

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

      <DeveloperSettings
        id={DEVELOPER_SETTINGS_ID}
        isDeveloper={profile.is_developer}
        available={me?.scopes ?? null}
        unavailable={me === null && error !== null}
      />
    </>
  );
}
