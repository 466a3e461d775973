/** The shown-once panel of a token just generated or refreshed: the value, a copy button, and what it replaced. */
import type { NewPersonalAccessToken } from "@latchkey/client";
import { useId, type RefObject } from "react";
import { CopyButton } from "../components/CopyButton";
import { formatDate } from "../lib/format";

interface NewTokenPanelProps {
  token: NewPersonalAccessToken;
  /** The value's field: the owner focuses it (after any dialog has closed), selected, ready to copy. */
  inputRef: RefObject<HTMLInputElement | null>;
  /** The token was refreshed: the old one (of the same name) is revoked. */
  replacedOld: boolean;
  /** The value reached the clipboard (the copy button, or Ctrl+C in the field). */
  onCopied: () => void;
  onDone: () => void;
}

export function NewTokenPanel({ token, inputRef: input, replacedOld, onCopied, onDone }: NewTokenPanelProps) {
  const inputId = useId();
  const headingId = useId();

  return (
    <section className="panel panel-success new-secret" aria-labelledby={headingId}>
      <h3 id={headingId} className="panel-title">
        {replacedOld ? `Token ${token.name} refreshed` : `Token ${token.name} generated`}
      </h3>
      {replacedOld && (
        <p className="strong">The old token was revoked and stopped working at once: use this one instead.</p>
      )}
      <div className="field">
        <label htmlFor={inputId}>New token</label>
        <div className="copy-row">
          <input
            ref={input}
            id={inputId}
            type="text"
            className="mono"
            readOnly
            value={token.token}
            onFocus={(event) => event.target.select()}
            onCopy={onCopied}
          />
          <CopyButton label="Copy token" text={token.token} fallback={() => input.current} onCopied={onCopied} />
        </div>
      </div>
      <p className="strong">Copy it now: it will not be shown again.</p>
      <p className="muted small">
        Scopes {token.scopes.join(", ")} · expires {formatDate(token.expires_at)}
      </p>
      <div className="actions">
        <button type="button" className="btn btn-small" onClick={onDone}>
          Done
        </button>
      </div>
    </section>
  );
}
