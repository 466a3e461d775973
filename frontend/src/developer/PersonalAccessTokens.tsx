/**
 * Personal access tokens: the list first, then "Generate new token" (which opens the form); refresh and
 * revoke ask first, naming the token. A new token is only ever held in this component's state: never in
 * localStorage or sessionStorage, so a reload forgets it; replacing one that was not copied asks first.
 */
import type { NewPersonalAccessToken, PersonalAccessToken, Scope } from "@latchkey/client";
import { useEffect, useId, useRef, useState } from "react";
import { useAuth } from "../app/auth";
import { api } from "../app/latchkey";
import { useAction } from "../app/useAction";
import { useResource } from "../app/useResource";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { NewTokenPanel } from "./NewTokenPanel";
import { TokenForm, type TokenRequest } from "./TokenForm";
import { TokenTable } from "./TokenTable";

interface ShownToken {
  token: NewPersonalAccessToken;
  /** It came from a refresh: the old token of that name is revoked. */
  replacedOld: boolean;
  copied: boolean;
}

/** What a confirmation dialog is asking about. */
type Pending =
  | { kind: "refresh"; token: PersonalAccessToken }
  | { kind: "revoke"; token: PersonalAccessToken }
  | { kind: "replace"; request: TokenRequest };

/** Where focus goes once the page has re-rendered after an action (never the page body). */
type FocusTarget = "heading" | "generate" | "panel";

interface PersonalAccessTokensProps {
  /** The scopes the user's role allows, in the core's order; null until `/v1/me` answers. */
  available: readonly Scope[] | null;
  /** `/v1/me` failed: there is nothing to offer. */
  unavailable: boolean;
}

export function PersonalAccessTokens({ available, unavailable }: PersonalAccessTokensProps) {
  const { epoch } = useAuth();
  const { data: tokens, error: loadError, reload } = useResource(api.listTokens, epoch);
  const [formOpen, setFormOpen] = useState(false);
  const [shown, setShown] = useState<ShownToken | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [returnFocus, setReturnFocus] = useState(true);
  // Set with the state change that re-renders the page; consumed once the new page is in the DOM.
  const focusNext = useRef<FocusTarget | null>(null);
  const { busy, error, setError, run } = useAction();
  const heading = useRef<HTMLHeadingElement>(null);
  const generateButton = useRef<HTMLButtonElement>(null);
  const panelInput = useRef<HTMLInputElement>(null);
  const headingId = useId();

  // This effect runs after its children's: after a dialog closed (and the browser gave focus back to the
  // dialog's trigger), so the focus set here is the one that stays.
  useEffect(() => {
    if (focusNext.current === "heading") heading.current?.focus();
    if (focusNext.current === "generate") generateButton.current?.focus();
    if (focusNext.current === "panel") {
      panelInput.current?.focus();
      panelInput.current?.select();
    }
    focusNext.current = null;
  });

  /** A new token is on screen and was not copied: replacing it loses it for good. */
  const uncopied = shown !== null && !shown.copied;

  function ask(next: Pending): void {
    setError(null);
    setReturnFocus(true);
    setPending(next);
  }

  function cancel(): void {
    setReturnFocus(true);
    setPending(null);
    setError(null);
  }

  async function generate(request: TokenRequest): Promise<boolean> {
    const created = await run(() => api.createToken(request.name, request.scopes, request.days));
    if (!created) return false;
    // The panel takes the focus (its value, selected); the dialog, if any, must not take it back.
    setReturnFocus(false);
    setPending(null);
    setShown({ token: created, replacedOld: false, copied: false });
    focusNext.current = "panel";
    setFormOpen(false);
    reload();
    return true;
  }

  async function submit(request: TokenRequest): Promise<boolean> {
    if (uncopied) {
      ask({ kind: "replace", request });
      return false;
    }
    return generate(request);
  }

  async function refresh(token: PersonalAccessToken): Promise<void> {
    const created = await run(() => api.refreshToken(token.id));
    if (!created) return;
    setReturnFocus(false);
    setPending(null);
    setShown({ token: created, replacedOld: true, copied: false });
    focusNext.current = "panel";
    reload();
  }

  async function revoke(token: PersonalAccessToken): Promise<void> {
    const done = await run(async () => {
      await api.revokeToken(token.id);
      return true;
    });
    if (!done) return;
    // Its row (and the button that opened the dialog) is gone: focus goes to the list's heading.
    setReturnFocus(false);
    setPending(null);
    if (shown?.token.id === token.id) setShown(null);
    focusNext.current = "heading";
    reload();
  }

  function confirm(): void {
    if (pending?.kind === "refresh") void refresh(pending.token);
    if (pending?.kind === "revoke") void revoke(pending.token);
    if (pending?.kind === "replace") void generate(pending.request);
  }

  const uncopiedWarning = shown && uncopied && (
    <p className="strong">
      The new token {shown.token.name} shown on this page has not been copied: it will not be shown again.
    </p>
  );

  return (
    <section className="card developer-settings" aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        Personal access tokens
      </h2>
      <p className="muted">
        Tokens let scripts and CI jobs call the API as you (<code>Authorization: Bearer lkp_…</code>), limited to the
        scopes you choose.
      </p>

      {shown && (
        <NewTokenPanel
          inputRef={panelInput}
          token={shown.token}
          replacedOld={shown.replacedOld}
          onCopied={() => setShown((current) => (current ? { ...current, copied: true } : current))}
          onDone={() => {
            setShown(null);
            focusNext.current = "heading";
          }}
        />
      )}

      {loadError && (
        <p role="alert" className="message error">
          {loadError}
        </p>
      )}

      <TokenTable
        tokens={tokens}
        labelledBy={headingId}
        busy={busy}
        onRefresh={(token) => ask({ kind: "refresh", token })}
        onRevoke={(token) => ask({ kind: "revoke", token })}
      />

      {formOpen ? (
        <TokenForm
          available={available}
          unavailable={unavailable}
          busy={busy}
          onSubmit={submit}
          onCancel={() => {
            setFormOpen(false);
            setError(null);
            focusNext.current = "generate";
          }}
        />
      ) : (
        <div className="actions">
          <button
            ref={generateButton}
            type="button"
            className="btn btn-primary"
            onClick={() => {
              setError(null);
              setFormOpen(true);
            }}
          >
            Generate new token
          </button>
        </div>
      )}

      {/* A failed generate, refresh or revoke; while a dialog is open, the dialog shows it instead. */}
      {!pending && error && (
        <p role="alert" className="message error">
          {error}
        </p>
      )}

      <ConfirmDialog
        open={pending?.kind === "refresh"}
        title={pending?.kind === "refresh" ? `Refresh token ${pending.token.name}?` : ""}
        confirmLabel="Refresh token"
        busy={busy}
        error={pending ? error : null}
        returnFocus={returnFocus}
        onConfirm={confirm}
        onCancel={cancel}
      >
        {pending?.kind === "refresh" && (
          <>
            <p>
              A new token with the same name, scopes and lifetime is issued, and the current token{" "}
              <strong>{pending.token.name}</strong> is revoked: it stops working at once, so every script or job
              using it is refused until you give it the new one.
            </p>
            {uncopiedWarning}
          </>
        )}
      </ConfirmDialog>

      <ConfirmDialog
        open={pending?.kind === "revoke"}
        title={pending?.kind === "revoke" ? `Revoke token ${pending.token.name}?` : ""}
        confirmLabel="Revoke token"
        busy={busy}
        error={pending ? error : null}
        returnFocus={returnFocus}
        onConfirm={confirm}
        onCancel={cancel}
      >
        {pending?.kind === "revoke" && (
          <p>
            Token <strong>{pending.token.name}</strong> stops working at once: every script or job using it is refused.
            This cannot be undone.
          </p>
        )}
      </ConfirmDialog>

      <ConfirmDialog
        open={pending?.kind === "replace"}
        title="Generate another token?"
        confirmLabel="Generate anyway"
        danger={false}
        busy={busy}
        error={pending ? error : null}
        returnFocus={returnFocus}
        onConfirm={confirm}
        onCancel={cancel}
      >
        {uncopiedWarning}
      </ConfirmDialog>
    </section>
  );
}
