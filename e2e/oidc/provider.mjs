// A real OpenID Provider for Latchkey's tests, the e2e stack and `just dev`: the certified npm package
// `oidc-provider` (8.x), with its clients, accounts and signing keys from a JSON file.
//
//     node e2e/oidc/provider.mjs --config provider.json --port 8002 [--host 127.0.0.1]
//
// `oidc-provider` is found as `require` finds a package: NODE_PATH first (tests/oidc.py sets it), then the
// node_modules folders above this file (the repository's, after `npm ci`).
//
// The config (see example-config.json beside this file; tests/oidc.py's ProviderConfig writes it):
//   issuer    the issuer string, exactly as discovery and the tokens carry it (e.g. "http://127.0.0.1:8002")
//   name      optional: the title of the provider's pages ("Latchkey Demo ID")
//   clients   [{client_id, client_secret, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
//             client_name?}]: confidential web clients. Defaults: client_secret_basic, grant_types
//             ["authorization_code"], response_types ["code"], backchannel_logout_session_required true,
//             require_auth_time true, id_token_signed_response_alg = the first key's algorithm. Any other
//             client metadata given is passed to oidc-provider as is.
//   accounts  [{sub, email, email_verified, name, password}]: who can sign in (email + password)
//   keys      optional: a private JWKS ({"keys": [...]}, RSA → RS256 and/or EC P-256 → ES256, each with a
//             `kid`); the first key signs. Without it a fresh RSA key is generated in memory (nothing is
//             written to disk). Tests rotate keys by restarting with a new JWKS.
//
// What it does:
// - PKCE (S256) is required of every authorization request; `prompt=login` and `max_age=0` make a signed-in
//   user type the password again (oidc-provider's own interaction policy).
// - Its own interaction pages, plain node:http in front of provider.callback(): a login page (inputs named
//   `login` and `password`, labelled "Email" and "Password", a "Sign in" button, "Wrong email or password."
//   on a bad pair, a "Cancel" button that answers the client with `error=access_denied`). Consent is granted
//   automatically: every client here is a configured first-party client.
// - ID tokens carry sub, sid, auth_time, nonce, email, email_verified and name.
// - RP-Initiated Logout: `GET /session/end?id_token_hint=…&post_logout_redirect_uri=…&client_id=…` shows a
//   confirmation page (a form with a "Yes, sign me out" button); confirming ends the provider session and
//   redirects to the post_logout_redirect_uri (303).
// - Back-Channel Logout: confirming that sign-out first POSTs a `logout_token` (a JWT with the back-channel
//   event, `sub` and `sid`) to the `backchannel_logout_uri` of every client the session signed in to, and
//   waits for those calls before redirecting. This is how tests make the provider send one: no admin API,
//   the real flow (end_session → confirm), e.g. ProviderBrowser.logout() in tests/oidc.py.
// - One line per request on stderr (method, path without the query, status, milliseconds), plus a line per
//   back-channel logout sent.
// - Sessions, codes and grants live in memory (oidc-provider's development adapter): a restart forgets them.

import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const SCOPES = ['openid', 'email', 'profile'];
const CLAIMS = { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] };
const MAX_FORM_BYTES = 64 * 1024;

function fail(message) {
  process.stderr.write(`oidc-provider: ${message}\n`);
  process.exit(2);
}

async function loadProvider() {
  // ESM `import` ignores NODE_PATH; CommonJS resolution honours it (and the node_modules above this file).
  const require = createRequire(import.meta.url);
  let entry;
  try {
    entry = require.resolve('oidc-provider');
  } catch {
    fail('the npm package oidc-provider is not installed: run `just setup` (npm ci) or set NODE_PATH');
  }
  const { default: Provider } = await import(pathToFileURL(entry).href);
  // oidc-provider's own in-memory store, as a subclass: passing the class itself prints a warning meant
  // for production deployments at every start; in memory is what a test and dev provider wants.
  const memoryAdapter = new URL('adapters/memory_adapter.js', pathToFileURL(entry));
  const { default: MemoryAdapter } = await import(memoryAdapter.href);
  class InMemoryAdapter extends MemoryAdapter {}
  return { Provider, InMemoryAdapter };
}

function readConfig(path) {
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read the config ${path}: ${error.message}`);
  }
  if (typeof config.issuer !== 'string' || !/^https?:\/\//.test(config.issuer)) {
    fail('config: `issuer` must be an http(s) URL');
  }
  if (!Array.isArray(config.clients) || config.clients.length === 0) fail('config: `clients` is empty');
  if (!Array.isArray(config.accounts)) fail('config: `accounts` must be a list');
  for (const [index, account] of config.accounts.entries()) {
    for (const field of ['sub', 'email', 'password']) {
      if (typeof account[field] !== 'string' || !account[field]) fail(`config: accounts[${index}].${field} is missing`);
    }
  }
  const emails = config.accounts.map((account) => account.email.toLowerCase());
  if (new Set(emails).size !== emails.length) fail('config: two accounts share an email');
  if (config.keys !== undefined) {
    if (!Array.isArray(config.keys?.keys) || config.keys.keys.length === 0) fail('config: `keys` must be a JWKS');
    for (const [index, key] of config.keys.keys.entries()) {
      if (!key.kid) fail(`config: keys.keys[${index}] has no kid`);
      if (!key.d) fail(`config: keys.keys[${index}] is not a private key`);
    }
  }
  return config;
}

function signingAlgorithm(jwk) {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  fail(`config: key ${jwk.kid} is neither RSA nor EC P-256 and has no alg`);
  return undefined;
}

function generatedJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `generated-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }] };
}

function clientMetadata(client, algorithm) {
  return {
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    backchannel_logout_session_required: true,
    require_auth_time: true,
    id_token_signed_response_alg: algorithm,
    scope: SCOPES.join(' '),
    ...client,
  };
}

// --- accounts ----------------------------------------------------------------------------------------------

function digest(text) {
  return createHash('sha256').update(text, 'utf8').digest();
}

function accountDirectory(accounts) {
  const bySub = new Map(accounts.map((account) => [account.sub, account]));
  const byEmail = new Map(accounts.map((account) => [account.email.toLowerCase(), account]));
  // Compared as digests, in constant time; an unknown email is checked against a dummy so it costs the same.
  const dummy = digest(randomBytes(32).toString('hex'));
  return {
    bySub,
    authenticate(login, password) {
      const account = byEmail.get(String(login).trim().toLowerCase());
      const matches = timingSafeEqual(digest(String(password)), account ? digest(account.password) : dummy);
      return account && matches ? account : undefined;
    },
  };
}

// --- pages -------------------------------------------------------------------------------------------------

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:48px 16px}
main{max-width:360px;margin:0 auto;background:#fff;border-radius:8px;padding:24px 28px;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:0 0 4px}p{color:#444}label{display:block;margin:14px 0 4px;font-weight:600}
input{box-sizing:border-box;width:100%;padding:8px;font-size:1rem}
button{margin-top:18px;width:100%;padding:9px;font-size:1rem;cursor:pointer}
.error{color:#b00020;font-weight:600}.secondary{background:none;border:1px solid #999}
</style>
</head>
<body><main>
${body}
</main></body>
</html>`;
}

function loginPage({ providerName, clientName, uid, login = '', error = '' }) {
  const alert = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page(`Sign in — ${providerName}`, `<h1>${escapeHtml(providerName)}</h1>
<p>Sign in to continue to ${escapeHtml(clientName)}.</p>
${alert}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="on">
<label for="login">Email</label>
<input id="login" name="login" type="email" autocomplete="username" required value="${escapeHtml(login)}"${login ? '' : ' autofocus'}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${login ? ' autofocus' : ''}>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
<button type="submit" class="secondary">Cancel</button>
</form>`);
}

// --- the provider ------------------------------------------------------------------------------------------

function providerConfiguration(config, accounts, jwks, adapter) {
  const providerName = config.name || 'OpenID Provider';
  const algorithm = signingAlgorithm(jwks.keys[0]);
  // Cookies are signed with keys of this process's own: a restart forgets every session anyway.
  const cookieKeys = [randomBytes(32).toString('hex')];
  // SameSite=Lax, not oidc-provider's default None: None needs Secure, which an http:// issuer cannot set,
  // and every navigation back to the provider is a top-level one.
  const cookie = { httpOnly: true, sameSite: 'lax', signed: true };
  // Browsers share cookies between the ports of a host: names of our own keep the provider's apart from
  // the BFF's on 127.0.0.1.
  const names = { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' };
  return {
    adapter,
    clients: config.clients.map((client) => clientMetadata(client, algorithm)),
    jwks,
    scopes: SCOPES,
    claims: CLAIMS,
    responseTypes: ['code'],
    // The profile claims go into the ID token too (not only to userinfo): the BFF reads them from there.
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    cookies: { names, keys: cookieKeys, long: cookie, short: cookie },
    // Seconds. Stated, so oidc-provider does not print a notice for each default at its first use.
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page(`Sign out — ${providerName}`, `<h1>${escapeHtml(providerName)}</h1>
<p>Do you want to sign out of ${escapeHtml(providerName)}?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page(`Signed out — ${providerName}`, `<h1>${escapeHtml(providerName)}</h1>
<p role="status">You are signed out.</p>`);
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Outgoing calls (back-channel logouts): 10 s, not 2.5 s, so a BFF on a busy test machine that revokes
    // its chains at the core before answering is not reported as failed.
    httpOptions: () => ({ signal: AbortSignal.timeout(10_000) }),
    async findAccount(ctx, sub) {
      const account = accounts.bySub.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: account.email_verified ?? true,
            name: account.name ?? account.email,
          };
        },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      const lines = Object.entries(out).map(([k, v]) => `<p><code>${escapeHtml(k)}</code>: ${escapeHtml(v)}</p>`);
      ctx.body = page(`Error — ${providerName}`, `<h1>Something went wrong</h1>\n${lines.join('\n')}`);
    },
  };
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function interactionHandler(provider, accounts, providerName) {
  async function grantConsent(req, res, interaction) {
    // Every client of this provider is first-party: grant what it asked for without asking the user.
    const { prompt: { details }, params, session, grantId } = interaction;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const saved = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId: saved } }, { mergeWithLastSubmission: true });
  }

  return async function handleInteraction(req, res, pathname) {
    const [, , uid, action] = pathname.split('/');
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid !== uid) {
      sendHtml(res, 400, page('Error', '<h1>This sign-in expired</h1><p>Start again from the application.</p>'));
      return;
    }
    const client = await provider.Client.find(interaction.params.client_id);
    const clientName = client?.clientName || interaction.params.client_id;
    const promptName = interaction.prompt.name;

    if (req.method === 'GET' && action === undefined) {
      if (promptName === 'consent') {
        await grantConsent(req, res, interaction);
        return;
      }
      sendHtml(res, 200, loginPage({ providerName, clientName, uid, login: interaction.params.login_hint }));
      return;
    }
    if (req.method === 'POST' && action === 'login' && promptName === 'login') {
      const form = await readForm(req);
      const account = accounts.authenticate(form.get('login') ?? '', form.get('password') ?? '');
      if (!account) {
        const html = loginPage({
          providerName, clientName, uid, login: form.get('login') ?? '', error: 'Wrong email or password.',
        });
        sendHtml(res, 200, html);
        return;
      }
      await provider.interactionFinished(
        req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false },
      );
      return;
    }
    if (req.method === 'POST' && action === 'abort') {
      await readForm(req);
      await provider.interactionFinished(
        req, res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    sendHtml(res, 404, page('Not found', '<h1>Not found</h1>'));
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  if (!values.config || !values.port) fail('usage: node provider.mjs --config FILE.json --port P [--host H]');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`not a port: ${values.port}`);

  const config = readConfig(values.config);
  const { Provider, InMemoryAdapter } = await loadProvider();
  const accounts = accountDirectory(config.accounts);
  const jwks = config.keys ?? generatedJwks();
  const providerName = config.name || 'OpenID Provider';
  const provider = new Provider(config.issuer, providerConfiguration(config, accounts, jwks, InMemoryAdapter));

  provider.on('backchannel.success', (ctx, client, accountId, sid) => {
    process.stderr.write(`back-channel logout to ${client.clientId} (sub ${accountId}, sid ${sid}): delivered\n`);
  });
  provider.on('backchannel.error', (ctx, error, client, accountId, sid) => {
    process.stderr.write(`back-channel logout to ${client.clientId} (sub ${accountId}, sid ${sid}) failed: ${error.message}\n`);
  });
  provider.on('server_error', (ctx, error) => {
    process.stderr.write(`server error on ${ctx.method} ${ctx.path}: ${error.stack ?? error}\n`);
  });

  const handleProvider = provider.callback();
  const handleInteraction = interactionHandler(provider, accounts, providerName);

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const { pathname } = new URL(req.url, 'http://provider.invalid');
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stderr.write(`${req.method} ${pathname} ${res.statusCode} ${ms.toFixed(1)}ms\n`);
    });
    if (pathname.startsWith('/interaction/')) {
      handleInteraction(req, res, pathname).catch((error) => {
        // An unknown or expired interaction (no cookie, a stale uid) is the user's problem, not a crash.
        const expired = error?.name === 'SessionNotFound';
        if (!expired) process.stderr.write(`interaction error: ${error?.stack ?? error}\n`);
        if (!res.headersSent) {
          sendHtml(res, expired ? 400 : 500, page('Error', expired
            ? '<h1>This sign-in expired</h1><p>Start again from the application.</p>'
            : '<h1>Something went wrong</h1>'));
        }
      });
      return;
    }
    handleProvider(req, res);
  });

  server.listen(port, values.host, () => {
    const kids = jwks.keys.map((key) => key.kid).join(', ');
    process.stderr.write(`oidc-provider ${config.issuer} listening on http://${values.host}:${port} (keys: ${kids})\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections();
      process.exit(0);
    });
  }
}

await main();
