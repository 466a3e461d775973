/** The form that generates a personal access token: name, scopes (those the role allows), expiry. */
import type { Scope } from "@latchkey/client";
import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { expiryFrom, formatExpiryDate } from "./expiry";
import { SCOPE_DESCRIPTIONS } from "./scopes";

export interface TokenRequest {
  name: string;
  scopes: Scope[];
  days: number;
}

interface TokenFormProps {
  /** The scopes the user's role allows, in the core's order; null until `/v1/me` answers. */
  available: readonly Scope[] | null;
  /** `/v1/me` failed: there is nothing to offer. */
  unavailable: boolean;
  busy: boolean;
  /** Generate; resolves to true when the token was made (the form then resets). */
  onSubmit: (request: TokenRequest) => Promise<boolean>;
  onCancel: () => void;
}

const MAX_DAYS = 366;

export function TokenForm({ available, unavailable, busy, onSubmit, onCancel }: TokenFormProps) {
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [days, setDays] = useState("30");
  const [scopeError, setScopeError] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  const firstScope = useRef<HTMLInputElement>(null);
  const nameId = useId();
  const daysId = useId();
  const previewId = useId();
  const scopeErrorId = useId();
  const headingId = useId();

  // The form opens on a click of "Generate new token": its first field takes the focus.
  useEffect(() => {
    nameInput.current?.focus();
  }, []);

  const expires = expiryFrom(days, new Date(), MAX_DAYS);

  function toggleScope(scope: Scope, checked: boolean): void {
    setScopeError(false);
    setScopes((current) =>
      checked
        ? (available ?? []).filter((item) => item === scope || current.includes(item))
        : current.filter((item) => item !== scope),
    );
  }

  async function submit(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    if (scopes.length === 0) {
      setScopeError(true);
      firstScope.current?.focus();
      return;
    }
    if (await onSubmit({ name: name.trim(), scopes, days: Number(days) })) {
      setName("");
      setScopes([]);
      setDays("30");
    }
  }

  return (
    <form className="token-form" aria-labelledby={headingId} onSubmit={(event) => void submit(event)}>
      <h3 id={headingId} className="form-title">
        New personal access token
      </h3>
      <div className="field">
        <label htmlFor={nameId}>Token name</label>
        <input
          ref={nameInput}
          id={nameId}
          type="text"
          required
          maxLength={100}
          value={name}
          placeholder="e.g. CI deploy"
          onChange={(event) => setName(event.target.value)}
        />
      </div>
      <fieldset className="scopes" aria-describedby={scopeError ? scopeErrorId : undefined}>
        <legend>Scopes</legend>
        {available === null && (
          <p className="muted small">{unavailable ? "The scopes could not be read." : "Loading scopes…"}</p>
        )}
        {available?.map((scope, index) => (
          <div className="scope" key={scope}>
            <label>
              <input
                ref={index === 0 ? firstScope : undefined}
                type="checkbox"
                checked={scopes.includes(scope)}
                aria-invalid={scopeError || undefined}
                aria-describedby={`scope-${scope.replace(":", "-")}-help`}
                onChange={(event) => toggleScope(scope, event.target.checked)}
              />
              <code>{scope}</code>
            </label>
            <span id={`scope-${scope.replace(":", "-")}-help`} className="muted small">
              {SCOPE_DESCRIPTIONS[scope]}
            </span>
          </div>
        ))}
        {scopeError && (
          <p id={scopeErrorId} role="alert" className="message error">
            Choose at least one scope.
          </p>
        )}
      </fieldset>
      <div className="field days">
        <label htmlFor={daysId}>Expires in (days)</label>
        <input
          id={daysId}
          type="number"
          min={1}
          max={MAX_DAYS}
          required
          value={days}
          aria-describedby={previewId}
          onChange={(event) => setDays(event.target.value)}
        />
        <span id={previewId} className="muted small" aria-live="polite">
          {expires ? `Expires on ${formatExpiryDate(expires)}` : `Between 1 and ${MAX_DAYS} days`}
        </span>
      </div>
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          Generate token
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
