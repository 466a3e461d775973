import { describe, expect, it } from "vitest";
import { pageTitle } from "./pageHeading";

describe("pageTitle", () => {
  it("is the heading's text, then the app's name", () => {
    expect(pageTitle("Projects")).toBe("Projects · Latchkey");
    expect(pageTitle("Page not found")).toBe("Page not found · Latchkey");
  });

  it("folds the heading's line breaks and spaces into one space", () => {
    expect(pageTitle("  Project\n   Apollo  ")).toBe("Project Apollo · Latchkey");
  });

  it("is the app's name alone while there is no heading", () => {
    expect(pageTitle(null)).toBe("Latchkey");
    expect(pageTitle(undefined)).toBe("Latchkey");
    expect(pageTitle("   ")).toBe("Latchkey");
  });
});
