import type { ActiveSession } from "@latchkey/client";
import { useEffect, useRef, useState } from "react";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { useAction } from "../app/useAction";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { describeUserAgent, formatDateTime } from "../lib/format";
import { formatRelative } from "../lib/relativeTime";
import "./sessions.css";
import { TableHead } from "../components/TableHead";

/** What the user asked to do, waiting for the confirmation. */
type Pending = { kind: "end"; session: ActiveSession } | { kind: "others" } | { kind: "everywhere" };

/** A time as people say it ("5 minutes ago"), the exact one in its title and `dateTime`. */
function When({ iso, now }: { iso: string; now: number }) {
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso, now)}
    </time>
  );
}

export function SessionsPage() {
  const { epoch, logout } = useAuth();
  const { data: sessions, error: loadError, reload } = useResource(api.listSessions, epoch);
  const { busy, error, setError, run } = useAction();
  const [pending, setPending] = useState<Pending | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // Cancel gives focus back to the button that asked; after an ending, focus goes where `focusAfter` says.
  const [confirmed, setConfirmed] = useState(false);
  // Where focus goes once the list is read again after an ending: a row's button (by session id), the
  // table's caption, or the notice. The ended row's button is gone, and focus must not fall to the body.
  const focusAfter = useRef<string | null>(null);
  const buttons = useRef(new Map<string, HTMLButtonElement>());
  const caption = useRef<HTMLTableCaptionElement>(null);
  const noticeRef = useRef<HTMLParagraphElement>(null);
  // "5 minutes ago" is relative to the moment the list was read (and moves on each minute).
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    const tick = (): void => setNow(Date.now());
    const first = window.setTimeout(tick, 0);
    const timer = window.setInterval(tick, 60_000);
    return () => {
      window.clearTimeout(first);
      window.clearInterval(timer);
    };
  }, [sessions]);

  useEffect(() => {
    const target = focusAfter.current;
    if (target === null || sessions === null) return;
    focusAfter.current = null;
    if (target === "notice") noticeRef.current?.focus();
    else (buttons.current.get(target) ?? caption.current)?.focus();
  }, [sessions]);

  // The current session first, then the most recently used.
  const ordered = sessions
    ? [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || b.last_seen_at.localeCompare(a.last_seen_at))
    : null;
  const others = ordered?.filter((session) => !session.current) ?? [];

  function ask(next: Pending): void {
    setError(null);
    setNotice(null);
    setConfirmed(false);
    setPending(next);
  }

  /** The row whose button takes focus after `ended` is gone: the next one, else the one before. */
  function neighbourOf(ended: ActiveSession): string {
    const index = others.findIndex((session) => session.id === ended.id);
    const neighbour = others[index + 1] ?? others[index - 1];
    return neighbour ? neighbour.id : "caption";
  }

  async function confirm(): Promise<void> {
    if (pending === null) return;
    if (pending.kind === "everywhere") {
      // Every session ends, this one too: the app goes to the login page, which says so.
      await run(() => logout(true));
      return;
    }
    const done = await run(async () => {
      if (pending.kind === "end") {
        await api.endSession(pending.session.id);
        focusAfter.current = neighbourOf(pending.session);
        setNotice(`The session on ${describeUserAgent(pending.session.user_agent)} has ended.`);
      } else {
        await api.endOtherSessions();
        focusAfter.current = "notice";
        setNotice("Every other session has been signed out. This one stays signed in.");
      }
      return true;
    });
    if (done) {
      setConfirmed(true);
      setPending(null);
      reload();
    }
  }

  const device = pending?.kind === "end" ? describeUserAgent(pending.session.user_agent) : "";

  return (
    <>
      <div className="page-header">
        <div>
          <h1>Sessions</h1>
          <p className="muted">The browsers signed in to your account. End any you do not recognise.</p>
        </div>
        <div className="actions sessions-actions">
          <button
            type="button"
            className="btn"
            disabled={ordered === null || others.length === 0}
            onClick={() => ask({ kind: "others" })}
          >
            Sign out other sessions
          </button>
          <button type="button" className="btn btn-danger" onClick={() => ask({ kind: "everywhere" })}>
            Log out everywhere
          </button>
        </div>
      </div>

      {loadError && (
        <p role="alert" className="message error">
          {loadError}
        </p>
      )}
      {notice && (
        <p ref={noticeRef} tabIndex={-1} role="status" className="message success">
          {notice}
        </p>
      )}

      <section className="card flush">
        <div className="table-wrap">
          <table className="table responsive sessions-table">
            <caption ref={caption} tabIndex={-1} className="card-title">
              Active sessions
            </caption>
            <TableHead columns={["Device", "IP address", "Signed in", "Last seen"]} />
            <tbody>
              {ordered === null && (
                <tr>
                  <td colSpan={5} className="muted">
                    Loading sessions…
                  </td>
                </tr>
              )}
              {ordered?.map((session) => {
                const name = describeUserAgent(session.user_agent);
                return (
                  <tr key={session.id} className={session.current ? "current-row" : undefined}>
                    <td data-label="Device">
                      {/* The raw User-Agent only in the tooltip: the readable name says enough. */}
                      <span className="strong" title={session.user_agent || undefined}>
                        {name}
                      </span>
                    </td>
                    <td data-label="IP address" className="mono">
                      {session.ip || "—"}
                    </td>
                    <td data-label="Signed in">
                      <When iso={session.created_at} now={now} />
                    </td>
                    <td data-label="Last seen">
                      <When iso={session.last_seen_at} now={now} />
                    </td>
                    <td className="cell-actions">
                      {session.current ? (
                        <span className="badge badge-current">This session</span>
                      ) : (
                        <button
                          ref={(element) => {
                            if (element) buttons.current.set(session.id, element);
                            else buttons.current.delete(session.id);
                          }}
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          aria-label={`End session on ${name}, last seen ${formatRelative(session.last_seen_at, now)}`}
                          onClick={() => ask({ kind: "end", session })}
                        >
                          End session
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>

      <ConfirmDialog
        open={pending !== null}
        title={
          pending?.kind === "end"
            ? `End the session on ${device}?`
            : pending?.kind === "others"
              ? "Sign out other sessions?"
              : "Log out everywhere?"
        }
        confirmLabel={
          pending?.kind === "end"
            ? "End session"
            : pending?.kind === "others"
              ? "Sign out other sessions"
              : "Log out everywhere"
        }
        busy={busy}
        error={error}
        returnFocus={!confirmed}
        onCancel={() => setPending(null)}
        onConfirm={() => void confirm()}
      >
        {pending?.kind === "end" && (
          <p>
            That browser will be signed out and will have to sign in again. Your other sessions, this one
            included, stay signed in.
          </p>
        )}
        {pending?.kind === "others" && (
          <p>
            Every other browser signed in to your account will be signed out ({others.length}{" "}
            {others.length === 1 ? "session" : "sessions"}). This one stays signed in.
          </p>
        )}
        {pending?.kind === "everywhere" && (
          <p>
            Every session of your account ends, including this one: every browser, this one too, will have to
            sign in again.
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}
