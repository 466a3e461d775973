/**
 * What each scope allows, in words. Which scopes a user may choose is the core's to say (`/v1/me`'s
 * `scopes`, from the role): a scope missing here is still offered, without a description.
 */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  profile: "Read your profile.",
  "projects:read": "List and download your projects and files, and follow their changes.",
  "projects:write": "Create, change and delete projects and files.",
  admin: "Manage users (administrators only).",
};
