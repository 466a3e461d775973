/**
 * The developer's client secret: masked, with when it was created and last used (read without revealing
 * it); reveal, copy and rotate (asked first). The secret is held in this component's state only.
 */
import type { ClientSecret } from "@latchkey/client";
import { useEffect, useId, useRef, useState } from "react";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { useAction } from "../app/useAction";
import { useResource } from "../app/useResource";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyButton } from "../components/CopyButton";
import { formatDateTime } from "../lib/format";

const MASK = "•".repeat(40);

function isPast(iso: string): boolean {
  return new Date(iso).getTime() <= Date.now();
}

export function ClientSecretSection() {
  const { epoch } = useAuth();
  const { data: info, reload: reloadInfo } = useResource(api.getClientSecretInfo, epoch);
  const [secret, setSecret] = useState<ClientSecret | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const [returnFocus, setReturnFocus] = useState(true);
  const { busy, error, setError, run } = useAction();
  const input = useRef<HTMLInputElement>(null);
  const headingId = useId();
  const inputId = useId();
  const usageId = useId();
  // Set by a rotation; runs after the dialog (a child) closed and the browser gave focus back to its trigger.
  const focusSecret = useRef(false);
  useEffect(() => {
    if (!focusSecret.current) return;
    focusSecret.current = false;
    input.current?.focus();
    input.current?.select();
  });

  /** The secret is fetched only when asked for: reading it is a sensitive action. */
  async function current(): Promise<ClientSecret | null> {
    if (secret) return secret;
    const fetched = await run(api.getClientSecret);
    if (fetched) setSecret(fetched);
    return fetched ?? null;
  }

  async function toggle(): Promise<void> {
    if (revealed) {
      setRevealed(false);
      return;
    }
    if (await current()) setRevealed(true);
  }

  async function rotate(): Promise<void> {
    const rotated = await run(api.rotateClientSecret);
    if (!rotated) return;
    setSecret(rotated);
    setRevealed(true);
    // Focus goes to the new secret (shown in its field), not back to the rotate button.
    setReturnFocus(false);
    focusSecret.current = true;
    setConfirmRotate(false);
    reloadInfo();
  }

  const createdAt = secret?.created_at ?? info?.created_at;
  const graceUntil = secret?.previous_valid_until ?? info?.previous_valid_until;
  const graceActive = graceUntil ? !isPast(graceUntil) : false;

  return (
    <section className="card developer-settings" aria-labelledby={headingId}>
      <h2 id={headingId}>Client secret</h2>
      <p className="muted">
        Your developer account&apos;s secret for server-to-server calls (<code>Authorization: Secret lks_…</code>). Keep
        it on servers only.
      </p>
      <div className="field">
        <label htmlFor={inputId}>Client secret</label>
        <div className="copy-row">
          <input
            ref={input}
            id={inputId}
            type="text"
            className="mono"
            readOnly
            aria-describedby={usageId}
            value={revealed && secret ? secret.secret : MASK}
          />
        </div>
      </div>
      <p id={usageId} className="muted small">
        {createdAt ? `Created ${formatDateTime(createdAt)}` : "Created —"} ·{" "}
        {info === null
          ? "Last used —"
          : info.last_used_at && !(secret && secret.created_at !== info.created_at)
            ? `Last used ${formatDateTime(info.last_used_at)}`
            : "Never used"}
      </p>
      <div className="actions">
        <button type="button" className="btn" disabled={busy} onClick={() => void toggle()}>
          {revealed ? "Hide client secret" : "Reveal client secret"}
        </button>
        <CopyButton
          label="Copy client secret"
          text={async () => (await current())?.secret ?? null}
          fallback={() => (revealed ? input.current : null)}
        />
        <button
          type="button"
          className="btn btn-danger-outline"
          onClick={() => {
            setError(null);
            setReturnFocus(true);
            setConfirmRotate(true);
          }}
        >
          Rotate client secret
        </button>
      </div>
      {graceUntil && graceActive && (
        <p className="message info">
          The previous secret keeps working until {formatDateTime(graceUntil)}
          {info?.previous_last_used_at ? ` (last used ${formatDateTime(info.previous_last_used_at)})` : ""}.
        </p>
      )}
      {!confirmRotate && error && (
        <p role="alert" className="message error">
          {error}
        </p>
      )}
      <ConfirmDialog
        open={confirmRotate}
        title="Rotate the client secret?"
        confirmLabel="Confirm rotate"
        busy={busy}
        error={confirmRotate ? error : null}
        returnFocus={returnFocus}
        onConfirm={() => void rotate()}
        onCancel={() => {
          setConfirmRotate(false);
          setError(null);
        }}
      >
        <p>
          A new secret is issued at once. The current one keeps working for a short grace period so you can update
          your servers; after that, every server still using it is refused.
        </p>
      </ConfirmDialog>
    </section>
  );
}
