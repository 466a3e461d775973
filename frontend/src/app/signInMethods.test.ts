import { describe, expect, it } from "vitest";
import { loginChoices, providerErrorMessage, reauthChoice, signInDescription } from "./signInMethods";

describe("providerErrorMessage", () => {
  it("says something different for each code of the callback, naming the provider", () => {
    const codes = ["login_cancelled", "login_failed", "login_expired", "provider_unavailable"];
    const messages = codes.map((code) => providerErrorMessage(code, "Acme ID"));
    expect(new Set(messages).size).toBe(codes.length);
    expect(messages[0]).toBe("Sign-in was cancelled at Acme ID. You are not signed in.");
    expect(messages[3]).toBe("Acme ID cannot be reached right now. Try again in a moment.");
    expect(messages[1]).toContain("through Acme ID");
    expect(messages[2]).toContain("Start again");
  });

  it("has no message without a code, and a general one for a code it does not know", () => {
    expect(providerErrorMessage(null, "Acme ID")).toBeNull();
    expect(providerErrorMessage("", "Acme ID")).toBeNull();
    expect(providerErrorMessage("<script>", null)).toBe("Signing in did not work. Try again.");
    expect(providerErrorMessage("provider_unavailable", null)).toBe(
      "The identity provider cannot be reached right now. Try again in a moment.",
    );
  });
});

describe("loginChoices", () => {
  it("offers what the BFF lists", () => {
    const oidc = { name: "Acme ID", login_url: "/bff/login/oidc" };
    expect(loginChoices({ methods: ["password", "oidc"], oidc })).toEqual({
      password: true,
      provider: { name: "Acme ID" },
    });
    expect(loginChoices({ methods: ["oidc"], oidc })).toEqual({ password: false, provider: { name: "Acme ID" } });
    expect(loginChoices({ methods: ["password"], oidc: null })).toEqual({ password: true, provider: null });
  });

  it("falls back to the password form before the answer, or when the answer has no way in", () => {
    expect(loginChoices(null)).toEqual({ password: true, provider: null });
    expect(loginChoices({ methods: ["oidc"], oidc: null })).toEqual({ password: true, provider: null });
  });
});

describe("signInDescription", () => {
  it("names password, provider or both", () => {
    expect(signInDescription({ has_password: true, provider_linked: false }, "Acme ID")).toBe("With a password");
    expect(signInDescription({ has_password: false, provider_linked: true }, "Acme ID")).toBe(
      "Through Acme ID (no password)",
    );
    expect(signInDescription({ has_password: true, provider_linked: true }, null)).toBe(
      "With a password or through the identity provider",
    );
  });
});

describe("reauthChoice", () => {
  const both = { has_password: true, provider_linked: true };
  it("asks for the password when there is no provider or the account is not linked to it", () => {
    expect(reauthChoice(both, null)).toBe("password");
    expect(reauthChoice({ has_password: true, provider_linked: false }, "Acme ID")).toBe("password");
  });

  it("sends an account without a password, or a session the BFF said is the provider's, to the provider", () => {
    expect(reauthChoice({ has_password: false, provider_linked: true }, "Acme ID")).toBe("provider");
    expect(reauthChoice(both, "Acme ID", true)).toBe("provider");
  });

  it("offers both to an account with both, and while the account is not known yet", () => {
    expect(reauthChoice(both, "Acme ID")).toBe("both");
    expect(reauthChoice(null, "Acme ID")).toBe("both");
  });
});
