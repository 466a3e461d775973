/** The list of personal access tokens: a table on wide screens, stacked cards on a phone. */
import type { PersonalAccessToken } from "@latchkey/client";
import { RefreshIcon } from "../components/icons";
import { formatDate, formatDateTime } from "../lib/format";
import { expiryStatus } from "./expiry";
import { TableHead } from "../components/TableHead";

interface TokenTableProps {
  tokens: PersonalAccessToken[] | null;
  /** The id of the heading that names the table. */
  labelledBy: string;
  busy: boolean;
  onRefresh: (token: PersonalAccessToken) => void;
  onRevoke: (token: PersonalAccessToken) => void;
}

export function ExpiryBadge({ expiresAt }: { expiresAt: string }) {
  const status = expiryStatus(expiresAt);
  if (!status.label) return null;
  return <span className={status.warning ? "badge badge-warning" : "badge"}>{status.label}</span>;
}

export function TokenTable({ tokens, labelledBy, busy, onRefresh, onRevoke }: TokenTableProps) {
  return (
    <div className="table-wrap">
      <table className="table responsive token-table" aria-labelledby={labelledBy}>
        <TableHead columns={["Name", "Scopes", "Created", "Expires", "Last used"]} />
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
              <td data-label="Name">
                <span className="strong">{token.name}</span>
                <br />
                <code className="muted small">{token.prefix}…</code>
              </td>
              <td data-label="Scopes">
                <span className="chips">
                  {token.scopes.map((scope) => (
                    <span className="chip" key={scope}>
                      {scope}
                    </span>
                  ))}
                </span>
              </td>
              <td data-label="Created">{formatDate(token.created_at)}</td>
              <td data-label="Expires">
                <span className="token-expiry">
                  <span>{formatDate(token.expires_at)}</span>
                  <ExpiryBadge expiresAt={token.expires_at} />
                </span>
              </td>
              <td data-label="Last used">{token.last_used_at ? formatDateTime(token.last_used_at) : "Never"}</td>
              <td className="cell-actions">
                <span className="actions">
                  <button
                    type="button"
                    className="btn btn-small btn-icon"
                    aria-label={`Refresh token ${token.name}`}
                    title="Refresh: revoke this token and issue a new one"
                    disabled={busy}
                    onClick={() => onRefresh(token)}
                  >
                    <RefreshIcon />
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger-outline"
                    aria-label={`Revoke token ${token.name}`}
                    disabled={busy}
                    onClick={() => onRevoke(token)}
                  >
                    Revoke
                  </button>
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
