import type { ActiveSession } from "@latchkey/client";
import { useState } from "react";
import { useAction } from "../app/useAction";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { describeUserAgent, formatDateTime } from "../lib/format";

export function SessionsPage() {
  const { epoch, logout } = useAuth();
  const { data: sessions, error: loadError, reload } = useResource(api.listSessions, epoch);
  const { busy: ending, error, run } = useAction();
  // The session whose "End session" was pressed last: its button is the one disabled while `ending`.
  const [endingId, setEndingId] = useState<string | null>(null);
  const { busy: leaving, run: leave } = useAction();

  async function end(session: ActiveSession): Promise<void> {
    setEndingId(session.id);
    await run(async () => {
      await api.endSession(session.id);
      reload();
    });
  }

  // The current session first, then the most recently used.
  const ordered = sessions
    ? [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || b.last_seen_at.localeCompare(a.last_seen_at))
    : null;

  return (
    <>
      <div className="page-header">
        <div>
          <h1>Sessions</h1>
          <p className="muted">The browsers signed in to your account. End any you do not recognise.</p>
        </div>
        <button
          type="button"
          className="btn btn-danger"
          disabled={leaving}
          onClick={() => void leave(() => logout(true))}
        >
          Log out everywhere
        </button>
      </div>

      {(error ?? loadError) && (
        <p role="alert" className="message error">
          {error ?? loadError}
        </p>
      )}

      <section className="card flush">
        <div className="table-wrap">
          <table className="table">
            <caption className="card-title">Active sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">IP address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last seen</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {ordered === null && (
                <tr>
                  <td colSpan={5} className="muted">
                    Loading sessions…
                  </td>
                </tr>
              )}
              {ordered?.map((session) => (
                <tr key={session.id} className={session.current ? "current-row" : undefined}>
                  <td>
                    <span className="strong">{describeUserAgent(session.user_agent)}</span>
                    <span className="user-agent muted small" title={session.user_agent}>
                      {session.user_agent || "No user agent"}
                    </span>
                  </td>
                  <td className="mono nowrap">{session.ip || "—"}</td>
                  <td className="nowrap">{formatDateTime(session.created_at)}</td>
                  <td className="nowrap">{formatDateTime(session.last_seen_at)}</td>
                  <td className="cell-actions">
                    {session.current ? (
                      <span className="badge badge-current">This session</span>
                    ) : (
                      <button
                        type="button"
                        className="btn btn-small btn-danger-outline"
                        disabled={ending && endingId === session.id}
                        onClick={() => void end(session)}
                      >
                        End session
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
