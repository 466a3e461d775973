/** Typed functions for every BFF route and every core route the app uses (through /api). */
import { bff, type BffClient } from "./client";
import type {
  ActiveSession,
  ClientSecret,
  Me,
  NewPersonalAccessToken,
  Page,
  PersonalAccessToken,
  Project,
  ProjectEvent,
  ProjectFile,
  Scope,
  SessionBody,
} from "./types";

const API = "/api/v1";

/** Path segments are percent-encoded; the BFF refuses encoded slashes and dots, so names cannot escape. */
const segment = (value: string | number): string => encodeURIComponent(String(value));

/** Every page of a cursor-paginated list (the core caps a page at 100 items). */
async function allPages<T>(client: BffClient, path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "?limit=100" : `?limit=100&cursor=${encodeURIComponent(cursor)}`;
    const page: Page<T> = await client.json<Page<T>>(path + query);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}

export function createApi(client: BffClient) {
  return {
    // --- the BFF's own routes ---------------------------------------------------------------------
    login: (username: string, password: string) =>
      client.json<SessionBody>("/bff/login", {
        method: "POST",
        json: { username, password },
        reauth: false,
        signalSessionEnded: false,
      }),
    /** The current session; `quiet` probes without announcing "no session" (the app's start-up). */
    getSession: (quiet = false) => client.json<SessionBody>("/bff/session", { signalSessionEnded: !quiet }),
    reauthenticate: (password: string) =>
      client.send204("/bff/reauthenticate", { method: "POST", json: { password }, reauth: false }),
    logout: (everywhere = false) =>
      client.send204(everywhere ? "/bff/logout?everywhere=true" : "/bff/logout", {
        method: "POST",
        reauth: false,
        signalSessionEnded: false,
      }),
    listSessions: () => client.json<Page<ActiveSession>>("/bff/sessions").then((page) => page.items),
    endSession: (id: string) => client.send204(`/bff/sessions/${segment(id)}`, { method: "DELETE" }),

    // --- the signed-in user -----------------------------------------------------------------------
    getMe: () => client.json<Me>(`${API}/me`),
    changePassword: (currentPassword: string, newPassword: string) =>
      client.send204(`${API}/me/password`, {
        method: "POST",
        json: { current_password: currentPassword, new_password: newPassword },
      }),

    // --- personal access tokens -------------------------------------------------------------------
    listTokens: () => allPages<PersonalAccessToken>(client, `${API}/me/tokens`),
    createToken: (name: string, scopes: Scope[], expiresInDays: number) =>
      client.json<NewPersonalAccessToken>(`${API}/me/tokens`, {
        method: "POST",
        json: { name, scopes, expires_in_days: expiresInDays },
      }),
    refreshToken: (id: number) =>
      client.json<NewPersonalAccessToken>(`${API}/me/tokens/${segment(id)}/refresh`, { method: "POST" }),
    revokeToken: (id: number) => client.send204(`${API}/me/tokens/${segment(id)}`, { method: "DELETE" }),

    // --- the developer's client secret --------------------------------------------------------------
    getClientSecret: () => client.json<ClientSecret>(`${API}/me/client-secret`),
    rotateClientSecret: () => client.json<ClientSecret>(`${API}/me/client-secret/rotate`, { method: "POST" }),

    // --- projects and their files -------------------------------------------------------------------
    listProjects: () => allPages<Project>(client, `${API}/projects`),
    getProject: (id: number) => client.json<Project>(`${API}/projects/${segment(id)}`),
    createProject: (name: string, description = "") =>
      client.json<Project>(`${API}/projects`, { method: "POST", json: { name, description } }),
    updateProject: (id: number, changes: { name?: string; description?: string }) =>
      client.json<Project>(`${API}/projects/${segment(id)}`, { method: "PATCH", json: changes }),
    deleteProject: (id: number) => client.send204(`${API}/projects/${segment(id)}`, { method: "DELETE" }),
    listFiles: (projectId: number) => allPages<ProjectFile>(client, `${API}/projects/${segment(projectId)}/files`),
    /** PUT the raw bytes with their own type (application/octet-stream when the browser knows none). */
    uploadFile: (projectId: number, name: string, file: Blob) =>
      client.json<ProjectFile>(`${API}/projects/${segment(projectId)}/files/${segment(name)}`, {
        method: "PUT",
        body: file,
        contentType: file.type || "application/octet-stream",
      }),
    downloadFile: async (projectId: number, name: string): Promise<Blob> => {
      const response = await client.request(`${API}/projects/${segment(projectId)}/files/${segment(name)}`, {
        accept: "*/*",
      });
      return response.blob();
    },
    deleteFile: (projectId: number, name: string) =>
      client.send204(`${API}/projects/${segment(projectId)}/files/${segment(name)}`, { method: "DELETE" }),

    /** The path of the SSE stream of project and file changes (read with `openEventStream`). */
    eventsPath: `${API}/events`,
  };
}

export type Api = ReturnType<typeof createApi>;

export const api: Api = createApi(bff);

const EVENT_TYPES = new Set(["project.created", "project.updated", "project.deleted", "file.uploaded", "file.deleted"]);

/** A project event from an SSE `data:` line, or null for anything unexpected. */
export function parseProjectEvent(eventName: string, data: string): ProjectEvent | null {
  if (!EVENT_TYPES.has(eventName)) return null;
  try {
    const parsed = JSON.parse(data) as Partial<ProjectEvent> | null;
    if (!parsed || typeof parsed.project !== "object") return null;
    return { ...parsed, type: eventName } as ProjectEvent;
  } catch {
    return null;
  }
}
