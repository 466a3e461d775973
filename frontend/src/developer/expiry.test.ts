import { describe, expect, it } from "vitest";
import { calendarDaysBetween, expiryFrom, expiryStatus, formatExpiryDate } from "./expiry";

/** A local time (the badges count calendar days of the user's zone). */
function local(year: number, month: number, day: number, hour = 12, minute = 0): Date {
  return new Date(year, month - 1, day, hour, minute);
}

describe("expiryStatus", () => {
  const now = local(2027, 1, 10, 15);

  it("says Expired for a past or present expiry, as a warning", () => {
    expect(expiryStatus(local(2027, 1, 10, 14).toISOString(), now)).toEqual({
      label: "Expired",
      warning: true,
      expired: true,
    });
    expect(expiryStatus(now.toISOString(), now).label).toBe("Expired");
  });

  it("counts calendar days, not 24-hour periods", () => {
    expect(expiryStatus(local(2027, 1, 10, 23, 59).toISOString(), now).label).toBe("Expires today");
    // Ten hours away, but after midnight: tomorrow.
    expect(expiryStatus(local(2027, 1, 11, 1).toISOString(), now).label).toBe("Expires tomorrow");
    expect(expiryStatus(local(2027, 1, 12, 9).toISOString(), now).label).toBe("Expires in 2 days");
  });

  it("warns within seven days and not after", () => {
    expect(expiryStatus(local(2027, 1, 11).toISOString(), now).warning).toBe(true);
    expect(expiryStatus(local(2027, 1, 17).toISOString(), now)).toEqual({
      label: "Expires in 7 days",
      warning: true,
      expired: false,
    });
    expect(expiryStatus(local(2027, 1, 18).toISOString(), now)).toEqual({
      label: "Expires in 8 days",
      warning: false,
      expired: false,
    });
  });

  it("says nothing for a value that is not a date", () => {
    expect(expiryStatus("soon", now).label).toBe("");
  });
});

describe("calendarDaysBetween", () => {
  it("crosses months and years", () => {
    expect(calendarDaysBetween(local(2026, 12, 31, 23), local(2027, 1, 1, 0, 30))).toBe(1);
    expect(calendarDaysBetween(local(2027, 2, 27), local(2027, 3, 1))).toBe(2);
  });
});

describe("expiryFrom", () => {
  const now = new Date("2027-01-10T12:00:00Z");

  it("adds whole days, as the core does", () => {
    expect(expiryFrom("30", now)?.toISOString()).toBe("2027-02-09T12:00:00.000Z");
    expect(expiryFrom(" 1 ", now)?.toISOString()).toBe("2027-01-11T12:00:00.000Z");
  });

  it("is null for what the field would refuse", () => {
    for (const days of ["", "0", "367", "1.5", "-3", "abc"]) expect(expiryFrom(days, now), days).toBeNull();
  });
});

describe("formatExpiryDate", () => {
  it("writes day, short month and year", () => {
    expect(formatExpiryDate(new Date(2027, 0, 12), "en-GB")).toBe("12 Jan 2027");
  });
});
