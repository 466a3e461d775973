/**
 * The "Developer Settings" section of My Profile (SPEC §6): how many tokens there are and which expire
 * soon, the client secret masked with when it was created and last used, and the way to manage them.
 */
import { useId } from "react";
import { Link } from "react-router-dom";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { formatDateTime } from "../lib/format";
import { expiryStatus } from "./expiry";

function ClientSecretSummary() {
  const { epoch } = useAuth();
  const { data: info, error } = useResource(api.getClientSecretInfo, epoch);
  return (
    <div>
      <dt>Client secret</dt>
      <dd>
        <code aria-hidden="true">lks_••••••••</code>
        <span className="visually-hidden">hidden</span>{" "}
        {info && (
          <span className="muted small">
            created {formatDateTime(info.created_at)} ·{" "}
            {info.last_used_at ? `last used ${formatDateTime(info.last_used_at)}` : "never used"}
          </span>
        )}
        {!info && error && <span className="muted small">{error}</span>}
      </dd>
    </div>
  );
}

export function DeveloperSettingsSummary({ isDeveloper }: { isDeveloper: boolean }) {
  const { epoch } = useAuth();
  const { data: tokens, error } = useResource(api.listTokens, epoch);
  const headingId = useId();
  const live = tokens?.filter((token) => !expiryStatus(token.expires_at).expired) ?? [];
  const expiringSoon = live.filter((token) => expiryStatus(token.expires_at).warning).length;

  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>Developer Settings</h2>
      <dl className="details">
        <div>
          <dt>Personal access tokens</dt>
          <dd>
            {tokens === null
              ? (error ?? "Loading…")
              : `${live.length} active${expiringSoon ? `, ${expiringSoon} expiring within a week` : ""}`}
          </dd>
        </div>
        {isDeveloper && <ClientSecretSummary />}
      </dl>
      <p>
        <Link to="/profile/developer-settings">Manage personal access tokens</Link>
      </p>
    </section>
  );
}
