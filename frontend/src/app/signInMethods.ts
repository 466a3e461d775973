/**
 * The sentences and choices around the ways in (SPEC §11): what `/login?error=<code>` says after a failed
 * sign-in at the identity provider, how My Profile describes the account's sign-in, and which confirmation
 * the re-authentication dialog offers.
 */
import type { LoginMethods } from "@latchkey/client";

/** The codes the BFF's provider callback sends back to `/login?error=`. */
export type ProviderLoginError = "login_cancelled" | "login_failed" | "login_expired" | "provider_unavailable";

/** What the login page says for `?error=<code>`; null without a code. An unknown code still gets a sentence. */
export function providerErrorMessage(code: string | null, providerName: string | null): string | null {
  if (code === null || code === "") return null;
  const provider = providerName ?? "the identity provider";
  switch (code) {
    case "login_cancelled":
      return `Sign-in was cancelled at ${provider}. You are not signed in.`;
    case "login_expired":
      return "That sign-in took too long or was already used. Start again.";
    case "provider_unavailable":
      return `${capitalize(provider)} cannot be reached right now. Try again in a moment.`;
    case "login_failed":
      return `Signing in through ${provider} did not work: this account may not have access. Try again, or ask your administrator.`;
    default:
      return "Signing in did not work. Try again.";
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The ways in the login page shows: the password form, the provider's button, or both. Until the BFF
 * answers (or when it cannot be read), the password form alone, as a BFF without a provider has it. */
export interface LoginChoices {
  password: boolean;
  provider: { name: string } | null;
}

export function loginChoices(methods: LoginMethods | null): LoginChoices {
  if (methods === null) return { password: true, provider: null };
  const provider = methods.methods.includes("oidc") && methods.oidc ? { name: methods.oidc.name } : null;
  return { password: methods.methods.includes("password") || provider === null, provider };
}

/** How an account signs in (`GET /v1/me`'s `has_password` and `provider_linked`), for My Profile. */
export function signInDescription(
  account: { has_password: boolean; provider_linked: boolean },
  providerName: string | null,
): string {
  const provider = providerName ?? "the identity provider";
  if (account.has_password && account.provider_linked) return `With a password or through ${provider}`;
  if (account.provider_linked) return `Through ${provider} (no password)`;
  if (account.has_password) return "With a password";
  return "No way in is set up";
}

/**
 * What the re-authentication dialog offers. A session that came from the provider must confirm there (the
 * BFF answers 409 `reauth_with_provider` to a password); an account without a password can have no other
 * session. An account with both may hold either kind of session: both are offered, and a 409 to the
 * password leaves the provider's button alone.
 */
export type ReauthChoice = "password" | "provider" | "both";

export function reauthChoice(
  account: { has_password: boolean; provider_linked: boolean } | null,
  providerName: string | null,
  providerOnly = false,
): ReauthChoice {
  if (providerName === null) return "password";
  if (providerOnly || (account !== null && !account.has_password)) return "provider";
  if (account !== null && !account.provider_linked) return "password";
  return "both";
}
