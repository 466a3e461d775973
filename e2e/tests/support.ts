/** What the e2e tests share: the stack `serve.py` started, sign-in through the form, direct core calls. */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import { type APIRequestContext, type Page, expect } from "@playwright/test";

/** serve.py's ports move together by LATCHKEY_E2E_PORT_OFFSET (two checkouts can then run at once). */
const PORT_OFFSET = Number(process.env.LATCHKEY_E2E_PORT_OFFSET ?? "0");
export const BFF_URL = `http://127.0.0.1:${18000 + PORT_OFFSET}`;
export const STATE_DIR = path.resolve(__dirname, "..", ".state");
export const MEMBER_STATE = path.join(STATE_DIR, "member.json");
export const DEVELOPER_STATE = path.join(STATE_DIR, "developer.json");
/** A context that starts signed out (the e2e project otherwise starts with the member's saved cookie). */
export const SIGNED_OUT = { cookies: [], origins: [] };

/** Access and refresh tokens: never in anything the browser receives. */
export const SESSION_TOKEN = /lk[ar]_[A-Za-z0-9]{49}/;
export const PAT = /^lkp_[A-Za-z0-9]{49}$/;
export const CLIENT_SECRET = /^lks_[A-Za-z0-9]{49}$/;

export interface Account {
  id: number;
  email: string;
  name: string;
  password: string;
  role: string;
  is_developer: boolean;
  client_secret?: string;
}

export interface Stack {
  bff: string;
  core: string;
  reauthBff: string;
  idleBff: string;
  /** The second app's BFF (LATCHKEY_ALLOWED_ORIGINS = secondApp; custom routes /echo-api and /live). */
  secondBff: string;
  /** e2e/second-app, served on a listed origin and on an unlisted one. */
  secondApp: string;
  unlistedApp: string;
  /** The main BFF's peer: same session database, key ring and provider; its core has the short re-auth window. */
  peerBff: string;
  /** The OpenID Provider (e2e/oidc/provider.mjs); its one client is the main BFF (and its peer). */
  provider: { issuer: string; name: string; clientId: string };
  reauthWindow: number;
  idleTimeout: number;
  sessionMaxAge: number;
  cookieName: string;
  /** `newcomer` is known to the provider only (the core creates the account at its first sign-in). */
  accounts: {
    member: Account;
    developer: Account;
    newcomer: Pick<Account, "email" | "name" | "password">;
    /** Only for making fresh accounts (`freshAccount`); tests never sign in as it. */
    admin: Account;
  };
  serviceSecret: string;
}

let loaded: Stack | undefined;

/** The stack serve.py describes in .state/stack.json (read lazily: it is written when the servers start). */
export function stack(): Stack {
  loaded ??= JSON.parse(readFileSync(path.join(STATE_DIR, "stack.json"), "utf8")) as Stack;
  return loaded;
}

/** A name no other test (or earlier run against the same servers) uses. */
export function unique(prefix: string): string {
  return `${prefix} ${randomBytes(3).toString("hex")}`;
}

/** Sign in through the login form of the BFF at `origin` (the main one by default). */
export async function signIn(page: Page, account: Account, origin = ""): Promise<void> {
  await page.goto(`${origin}/login`);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByRole("textbox", { name: "Email" }).fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/projects$/);
  await expect(page.getByRole("heading", { name: "Projects", exact: true })).toBeVisible();
}

/** An access token from a password grant at the core, as the BFF (a confidential client) gets one. */
export async function coreAccessToken(request: APIRequestContext, account: Account): Promise<string> {
  const answer = await request.post(`${stack().core}/v1/oauth/token`, {
    headers: { Authorization: `Secret ${stack().serviceSecret}` },
    form: { grant_type: "password", username: account.email, password: account.password },
  });
  expect(answer.status(), await answer.text()).toBe(200);
  return ((await answer.json()) as { access_token: string }).access_token;
}

/** A personal access token made through the core API (POST /v1/me/tokens with a session token). */
export async function createPat(request: APIRequestContext, account: Account, scopes: string[]): Promise<string> {
  const access = await coreAccessToken(request, account);
  const answer = await request.post(`${stack().core}/v1/me/tokens`, {
    headers: { Authorization: `Bearer ${access}` },
    data: { name: unique("script"), scopes, expires_in_days: 1 },
  });
  expect(answer.status(), await answer.text()).toBe(201);
  return ((await answer.json()) as { token: string }).token;
}

/**
 * A new account of its own (made by the admin through `POST /v1/admin/users`), for a test that changes what
 * other tests rely on: its password, its lockout counter, its sessions.
 */
export async function freshAccount(
  request: APIRequestContext,
  options: { developer?: boolean; name?: string } = {},
): Promise<Account> {
  const access = await coreAccessToken(request, stack().accounts.admin);
  const tag = randomBytes(4).toString("hex");
  const email = `fresh-${tag}@e2e.latchkey.test`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const name = options.name ?? `Fresh ${tag}`;
  const answer = await request.post(`${stack().core}/v1/admin/users`, {
    headers: { Authorization: `Bearer ${access}` },
    data: { email, password, name, is_developer: options.developer ?? false },
  });
  expect(answer.status(), await answer.text()).toBe(201);
  const created = (await answer.json()) as { id: number; role: string; is_developer: boolean };
  return { id: created.id, email, name, password, role: created.role, is_developer: created.is_developer };
}

/** The status of `GET /v1/projects` at the core with a bearer token. */
export async function coreStatusWith(request: APIRequestContext, token: string): Promise<number> {
  const answer = await request.get(`${stack().core}/v1/projects`, { headers: { Authorization: `Bearer ${token}` } });
  return answer.status();
}

/** Mark the document so a test can tell later that the page was not reloaded in between. */
export async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __latchkeyMark?: boolean }).__latchkeyMark = true;
  });
}

export async function documentIsMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __latchkeyMark?: boolean }).__latchkeyMark === true);
}

/** On the login page of a BFF with the provider: "Sign in with <name>", then the provider's own login page. */
export async function startProviderSignIn(page: Page): Promise<void> {
  await page.getByRole("button", { name: `Sign in with ${stack().provider.name}` }).click();
  await expectProviderLogin(page);
}

/** The provider's login page (its own, on its own origin) asks for the email and the password. */
export async function expectProviderLogin(page: Page): Promise<void> {
  await expect(page).toHaveURL((url) => url.href.startsWith(`${stack().provider.issuer}/`));
  await expect(page.getByLabel("Password", { exact: true })).toBeVisible();
}

/** Type the credentials into the provider's login page and sign in there. */
export async function signInAtProvider(page: Page, account: { email: string; password: string }): Promise<void> {
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}
