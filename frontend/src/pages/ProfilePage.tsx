import { useEffect, useId, useState, type SubmitEvent } from "react";
import { useLocation } from "react-router-dom";
import { useAuth, useUser } from "../app/auth";
import { DeveloperSettings } from "./DeveloperSettings";
import { api } from "../lib/api";
import { describeError, formatDate } from "../lib/format";
import { ProblemError } from "../lib/problem";
import type { Me } from "../lib/types";

export const DEVELOPER_SETTINGS_ID = "developer-settings";

function ChangePassword({ email }: { email: string }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const currentId = useId();
  const nextId = useId();
  const headingId = useId();

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setDone(false);
    setError(null);
    try {
      await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone(true);
    } catch (caught) {
      setError(
        caught instanceof ProblemError && caught.code === "invalid_password"
          ? "The current password is wrong."
          : describeError(caught),
      );
    } finally {
      setBusy(false);
    }
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
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  const atDeveloperSettings = location.pathname.startsWith("/profile/developer-settings");

  useEffect(() => {
    document.title = `${atDeveloperSettings ? "Developer Settings" : "My Profile"} · Latchkey`;
    if (atDeveloperSettings) {
      document.getElementById(DEVELOPER_SETTINGS_ID)?.scrollIntoView({ block: "start" });
    } else {
      window.scrollTo({ top: 0 });
    }
  }, [atDeveloperSettings, location.key]);

  useEffect(() => {
    let cancelled = false;
    api.getMe().then(
      (value) => !cancelled && setMe(value),
      (caught: unknown) => !cancelled && setError(describeError(caught)),
    );
    return () => {
      cancelled = true;
    };
  }, [epoch]);

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

      <ChangePassword email={profile.email} />

      <DeveloperSettings id={DEVELOPER_SETTINGS_ID} user={profile} />
    </>
  );
}
