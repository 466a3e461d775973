import { describe, expect, it } from "vitest";
import { attemptsWarning, formatCountdown, secondsUntil } from "./countdown";
import { formatRelative } from "./relativeTime";

describe("formatCountdown", () => {
  it.each([
    [900, "15:00"],
    [899, "14:59"],
    [899.2, "15:00"],
    [65, "1:05"],
    [5, "0:05"],
    [0, "0:00"],
    [-3, "0:00"],
    [3723, "1:02:03"],
  ])("%s seconds → %s", (seconds, text) => {
    expect(formatCountdown(seconds)).toBe(text);
  });
});

describe("attemptsWarning", () => {
  it("warns at two attempts left and at the last one", () => {
    expect(attemptsWarning(2)).toBe("2 attempts left before a 15-minute lockout.");
    expect(attemptsWarning(1)).toBe("1 attempt left before a 15-minute lockout.");
  });

  it("says nothing with more left, none left (the lockout speaks), or no count", () => {
    expect(attemptsWarning(3)).toBeNull();
    expect(attemptsWarning(0)).toBeNull();
    expect(attemptsWarning(undefined)).toBeNull();
  });
});

describe("secondsUntil", () => {
  it("counts whole seconds up to the deadline, then stays at zero", () => {
    expect(secondsUntil(10_000, 1_000)).toBe(9);
    expect(secondsUntil(10_000, 9_001)).toBe(1);
    expect(secondsUntil(10_000, 10_000)).toBe(0);
    expect(secondsUntil(10_000, 20_000)).toBe(0);
    expect(secondsUntil(null, 0)).toBe(0);
  });
});

describe("formatRelative", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  it.each([
    ["2026-06-01T11:59:30Z", "just now"],
    ["2026-06-01T11:55:00Z", "5 minutes ago"],
    ["2026-06-01T11:00:00Z", "1 hour ago"],
    ["2026-05-31T12:00:00Z", "yesterday"],
    ["2026-05-25T12:00:00Z", "last week"],
    ["2026-06-01T12:10:00Z", "in 10 minutes"],
  ])("%s → %s", (iso, text) => {
    expect(formatRelative(iso, now)).toBe(text);
  });

  it("gives back what it cannot read", () => {
    expect(formatRelative("not a date", now)).toBe("not a date");
  });
});
