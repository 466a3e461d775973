/**
 * Developer Settings (a section of My Profile): personal access tokens (create, refresh, revoke) and, for
 * developer accounts, the client secret (masked, reveal, copy, rotate). A token or secret is only ever held
 * in this component's state: never in localStorage or sessionStorage, so a reload forgets it.
 */
import type { ClientSecret, NewPersonalAccessToken, PersonalAccessToken, Scope } from "@latchkey/client";
import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { useAction } from "../app/useAction";
import { useResource } from "../app/useResource";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { CopyButton } from "./CopyButton";
import { RefreshIcon } from "./icons";
import { formatDate, formatDateTime } from "../lib/format";

/**
 * What each scope allows, in words. Which scopes a user may choose is the core's to say (`/v1/me`'s
 * `scopes`, from the role): a scope missing here is still offered, without a description.
 */
const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  profile: "Read your profile.",
  "projects:read": "List and download your projects and files, and follow their changes.",
  "projects:write": "Create, change and delete projects and files.",
  admin: "Manage users (administrators only).",
};

function isPast(iso: string): boolean {
  return new Date(iso).getTime() <= Date.now();
}

function NewTokenPanel({ token, onDone }: { token: NewPersonalAccessToken; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const inputId = useId();

  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, [token.token]);

  return (
    <div className="panel panel-success new-secret">
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
          />
          <CopyButton label="Copy token" text={token.token} fallback={() => input.current} />
        </div>
      </div>
      <p className="strong">Copy it now: it will not be shown again.</p>
      <p className="muted small">
        Token <strong>{token.name}</strong> · scopes {token.scopes.join(", ")} · expires {formatDate(token.expires_at)}
      </p>
      <div className="actions">
        <button type="button" className="btn btn-small" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

interface ScopesOffered {
  /** The scopes the user's role allows, in the core's order; null until `/v1/me` answers. */
  available: readonly Scope[] | null;
  /** `/v1/me` failed: there is nothing to offer (the profile card says why). */
  unavailable: boolean;
}

function PersonalAccessTokens({ available, unavailable }: ScopesOffered) {
  const { epoch } = useAuth();
  const { data: tokens, error: loadError, reload } = useResource(api.listTokens, epoch);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [days, setDays] = useState("30");
  const [newToken, setNewToken] = useState<NewPersonalAccessToken | null>(null);
  const [confirmRevoke, setConfirmRevoke] = useState<number | null>(null);
  const { busy, error, setError, run } = useAction();
  const headingId = useId();
  const nameId = useId();
  const daysId = useId();

  function create(event: SubmitEvent<HTMLFormElement>): void {
    event.preventDefault();
    if (scopes.length === 0) {
      setError("Choose at least one scope.");
      return;
    }
    void run(async () => {
      const created = await api.createToken(name.trim(), scopes, Number(days));
      setNewToken(created);
      setName("");
      setScopes([]);
      setDays("30");
      reload();
    });
  }

  function refresh(token: PersonalAccessToken): void {
    void run(async () => {
      setNewToken(await api.refreshToken(token.id));
      reload();
    });
  }

  function revoke(token: PersonalAccessToken): void {
    void run(async () => {
      await api.revokeToken(token.id);
      setConfirmRevoke(null);
      if (newToken?.id === token.id) setNewToken(null);
      reload();
    });
  }

  function toggleScope(scope: Scope, checked: boolean): void {
    setScopes((current) =>
      checked
        ? (available ?? []).filter((item) => item === scope || current.includes(item))
        : current.filter((item) => item !== scope),
    );
  }

  return (
    <div className="subsection">
      <h3 id={headingId}>Personal access tokens</h3>
      <p className="muted">
        Tokens let scripts and CI jobs call the API as you (<code>Authorization: Bearer lkp_…</code>), limited to the
        scopes you choose.
      </p>

      <form className="token-form" onSubmit={create}>
        <div className="field">
          <label htmlFor={nameId}>Token name</label>
          <input
            id={nameId}
            type="text"
            required
            maxLength={100}
            value={name}
            placeholder="e.g. CI deploy"
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        <fieldset className="scopes">
          <legend>Scopes</legend>
          {available === null && (
            <p className="muted small">{unavailable ? "The scopes could not be read." : "Loading scopes…"}</p>
          )}
          {available?.map((scope) => (
            <div className="scope" key={scope}>
              <label>
                <input
                  type="checkbox"
                  checked={scopes.includes(scope)}
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
        </fieldset>
        <div className="field days">
          <label htmlFor={daysId}>Expires in (days)</label>
          <input
            id={daysId}
            type="number"
            min={1}
            max={366}
            required
            value={days}
            onChange={(event) => setDays(event.target.value)}
          />
        </div>
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Create token
          </button>
        </div>
      </form>

      {(error ?? loadError) && (
        <p role="alert" className="message error">
          {error ?? loadError}
        </p>
      )}

      {newToken && <NewTokenPanel token={newToken} onDone={() => setNewToken(null)} />}

      <div className="table-wrap">
        <table className="table" aria-labelledby={headingId}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens === null && (
              <tr>
                <td colSpan={6} className="muted">
                  Loading tokens…
                </td>
              </tr>
            )}
            {tokens?.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No personal access tokens yet.
                </td>
              </tr>
            )}
            {tokens?.map((token) => (
              <tr key={token.id}>
                <td>
                  <span className="strong">{token.name}</span>
                  <br />
                  <code className="muted small">{token.prefix}…</code>
                </td>
                <td>
                  <span className="chips">
                    {token.scopes.map((scope) => (
                      <span className="chip" key={scope}>
                        {scope}
                      </span>
                    ))}
                  </span>
                </td>
                <td>{formatDate(token.created_at)}</td>
                <td>
                  {formatDate(token.expires_at)}
                  {isPast(token.expires_at) && <span className="badge badge-warning">Expired</span>}
                </td>
                <td>{token.last_used_at ? formatDateTime(token.last_used_at) : "Never"}</td>
                <td className="cell-actions">
                  {confirmRevoke === token.id ? (
                    <span className="actions">
                      <button type="button" className="btn btn-small btn-danger" disabled={busy} onClick={() => revoke(token)}>
                        Confirm revoke
                      </button>
                      <button type="button" className="btn btn-small" onClick={() => setConfirmRevoke(null)}>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <span className="actions">
                      <button
                        type="button"
                        className="btn btn-small btn-icon"
                        aria-label={`Refresh token ${token.name}`}
                        title="Refresh: revoke this token and issue a new one"
                        disabled={busy}
                        onClick={() => refresh(token)}
                      >
                        <RefreshIcon />
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-danger-outline"
                        aria-label={`Revoke token ${token.name}`}
                        onClick={() => setConfirmRevoke(token.id)}
                      >
                        Revoke
                      </button>
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

const MASK = "•".repeat(40);

function ClientSecretSection() {
  const [secret, setSecret] = useState<ClientSecret | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const { busy, error, run } = useAction();
  const input = useRef<HTMLInputElement>(null);
  const headingId = useId();
  const inputId = useId();

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
    await run(async () => {
      setSecret(await api.rotateClientSecret());
      setRevealed(true);
      setConfirmRotate(false);
    });
  }

  const graceUntil = secret?.previous_valid_until;
  const graceActive = graceUntil ? !isPast(graceUntil) : false;

  return (
    <div className="subsection" aria-labelledby={headingId} role="group">
      <h3 id={headingId}>Client secret</h3>
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
            value={revealed && secret ? secret.secret : MASK}
          />
        </div>
      </div>
      <div className="actions">
        <button type="button" className="btn" disabled={busy} onClick={() => void toggle()}>
          {revealed ? "Hide client secret" : "Reveal client secret"}
        </button>
        <CopyButton
          label="Copy client secret"
          text={async () => (await current())?.secret ?? null}
          fallback={() => (revealed ? input.current : null)}
        />
        {!confirmRotate && (
          <button type="button" className="btn btn-danger-outline" onClick={() => setConfirmRotate(true)}>
            Rotate client secret
          </button>
        )}
      </div>
      {confirmRotate && (
        <div className="panel panel-danger">
          <p>
            Rotate the client secret? A new secret is issued at once; the current one keeps working for a grace period
            so you can update your servers.
          </p>
          <div className="actions">
            <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void rotate()}>
              Confirm rotate
            </button>
            <button type="button" className="btn" onClick={() => setConfirmRotate(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {secret && <p className="muted small">Current secret created {formatDateTime(secret.created_at)}.</p>}
      {graceUntil && graceActive && (
        <p className="message info">The previous secret keeps working until {formatDateTime(graceUntil)}</p>
      )}
      {error && (
        <p role="alert" className="message error">
          {error}
        </p>
      )}
    </div>
  );
}

interface DeveloperSettingsProps extends ScopesOffered {
  id: string;
  /** Whether the account is a developer's (the client secret is shown to developers only). */
  isDeveloper: boolean;
}

export function DeveloperSettings({ id, isDeveloper, available, unavailable }: DeveloperSettingsProps) {
  const headingId = useId();
  return (
    <section id={id} className="card developer-settings" aria-labelledby={headingId}>
      <h2 id={headingId}>Developer Settings</h2>
      <PersonalAccessTokens available={available} unavailable={unavailable} />
      {isDeveloper && <ClientSecretSection />}
    </section>
  );
}
