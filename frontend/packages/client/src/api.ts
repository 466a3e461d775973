/** One function for every BFF route and every core route an app uses (through /api), typed by the route. */
import type { BffClient } from "./client.js";
import { asDeclared, createRoutes, routeUrl, type Route } from "./routes.js";
import type { LogoutAnswer, Page, ProjectEvent, ProjectEventType, ProjectFile, Scope } from "./types.js";
import type { UploadProgress } from "./upload.js";

/** `uploadFile`'s options: with `onProgress` the upload goes by XMLHttpRequest, which reports progress. */
export interface UploadFileOptions {
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
}

/** The cursor of a list's page (the core caps a page at 100 items). */
interface PageQuery {
  limit: number;
  cursor?: string;
}

/** Every page of a cursor-paginated list, `readPage` reading one. */
async function allPages<T>(readPage: (query: PageQuery) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await readPage(cursor === null ? { limit: 100 } : { limit: 100, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}

export function createApi(client: BffClient) {
  const routes = createRoutes(client);
  return {
    // --- the BFF's own routes ---------------------------------------------------------------------
    login: (username: string, password: string) =>
      routes.json("post", "/bff/login", {
        json: { username, password },
        reauth: false,
        signalSessionEnded: false,
      }),
    /** The current session; `quiet` probes without announcing "no session" (the app's start-up). */
    getSession: (quiet = false) => routes.json("get", "/bff/session", { signalSessionEnded: !quiet }),
    reauthenticate: (password: string) =>
      routes.send204("post", "/bff/reauthenticate", { json: { password }, reauth: false }),
    /** End the session; resolves to the provider's logout URL when the browser should go there too
     * (a provider session, SPEC §11), else null. */
    logout: async (everywhere = false): Promise<string | null> => {
      const response = await routes.request("post", "/bff/logout", {
        query: everywhere ? { everywhere: "true" } : {},
        accept: "application/json",
        reauth: false,
        signalSessionEnded: false,
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return null;
      }
      return asDeclared<LogoutAnswer>(await response.json()).logout_url;
    },
    /** The ways in this BFF offers (password, the OpenID Provider), for a login page. */
    loginMethods: () => routes.json("get", "/bff/login/methods", { reauth: false, signalSessionEnded: false }),
    listSessions: () => routes.json("get", "/bff/sessions").then((page) => page.items),
    endSession: (id: string) => routes.send204("delete", "/bff/sessions/{id}", { path: { id } }),
    /** End every other session of the user ("sign out other sessions"); this one stays. */
    endOtherSessions: () => routes.send204("post", "/bff/sessions/end-others"),

    // --- the signed-in user -----------------------------------------------------------------------
    getMe: () => routes.json("get", "/api/v1/me"),
    changePassword: (currentPassword: string, newPassword: string) =>
      routes.send204("post", "/api/v1/me/password", {
        json: { current_password: currentPassword, new_password: newPassword },
      }),

    // --- personal access tokens -------------------------------------------------------------------
    listTokens: () => allPages((query) => routes.json("get", "/api/v1/me/tokens", { query })),
    createToken: (name: string, scopes: Scope[], expiresInDays: number) =>
      routes.json("post", "/api/v1/me/tokens", { json: { name, scopes, expires_in_days: expiresInDays } }),
    refreshToken: (id: number) =>
      routes.json("post", "/api/v1/me/tokens/{token_id}/refresh", { path: { token_id: id } }),
    revokeToken: (id: number) => routes.send204("delete", "/api/v1/me/tokens/{token_id}", { path: { token_id: id } }),

    // --- the developer's client secret --------------------------------------------------------------
    getClientSecret: () => routes.json("get", "/api/v1/me/client-secret"),
    /** When the secret was created and last used, without the secret (needs no recent password login). */
    getClientSecretInfo: () => routes.json("get", "/api/v1/me/client-secret/info"),
    rotateClientSecret: () => routes.json("post", "/api/v1/me/client-secret/rotate"),

    // --- projects and their files -------------------------------------------------------------------
    listProjects: () => allPages((query) => routes.json("get", "/api/v1/projects", { query })),
    getProject: (id: number) => routes.json("get", "/api/v1/projects/{project_id}", { path: { project_id: id } }),
    createProject: (name: string, description = "") =>
      routes.json("post", "/api/v1/projects", { json: { name, description } }),
    updateProject: (id: number, changes: { name?: string; description?: string }) =>
      routes.json("patch", "/api/v1/projects/{project_id}", { path: { project_id: id }, json: changes }),
    deleteProject: (id: number) =>
      routes.send204("delete", "/api/v1/projects/{project_id}", { path: { project_id: id } }),
    listFiles: (projectId: number) =>
      allPages((query) =>
        routes.json("get", "/api/v1/projects/{project_id}/files", { path: { project_id: projectId }, query }),
      ),
    /** PUT the raw bytes with their own type (application/octet-stream when the browser knows none);
     * `onProgress` reports the bytes sent, `signal` cancels. */
    uploadFile: async (
      projectId: number,
      name: string,
      file: Blob,
      options: UploadFileOptions = {},
    ): Promise<ProjectFile> => {
      const contentType = file.type || "application/octet-stream";
      const path = { project_id: projectId, name };
      if (options.onProgress) {
        const url = routeUrl("/api/v1/projects/{project_id}/files/{name}", path);
        return asDeclared<ProjectFile>(
          await client.upload(url, file, { contentType, onProgress: options.onProgress, signal: options.signal }),
        );
      }
      return routes.json("put", "/api/v1/projects/{project_id}/files/{name}", {
        path,
        body: file,
        contentType,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    /** A short-lived link (60 s, this session only) at which the browser downloads the file natively
     * (`<a href>`): the bytes never pass through the page. */
    downloadLink: async (projectId: number, name: string): Promise<string> => {
      const ticket = await routes.json("post", "/bff/downloads", {
        json: { path: routeUrl("/api/v1/projects/{project_id}/files/{name}", { project_id: projectId, name }) },
      });
      return client.baseUrl ? new URL(ticket.url, client.baseUrl).href : ticket.url;
    },
    downloadFile: async (projectId: number, name: string): Promise<Blob> => {
      const response = await routes.request("get", "/api/v1/projects/{project_id}/files/{name}", {
        path: { project_id: projectId, name },
        accept: "*/*",
      });
      return response.blob();
    },
    deleteFile: (projectId: number, name: string) =>
      routes.send204("delete", "/api/v1/projects/{project_id}/files/{name}", { path: { project_id: projectId, name } }),

    /** The path of the SSE stream of project and file changes (read with `openEventStream`). */
    eventsPath: "/api/v1/events" satisfies Route,
  };
}

export type Api = ReturnType<typeof createApi>;

/** The core's event names, checked against `ProjectEventType` both ways (none missing, none extra). */
const EVENT_TYPES: Readonly<Record<ProjectEventType, true>> = {
  "project.created": true,
  "project.updated": true,
  "project.deleted": true,
  "file.uploaded": true,
  "file.deleted": true,
};

function isProjectEventType(name: string): name is ProjectEventType {
  return Object.hasOwn(EVENT_TYPES, name);
}

/** A project event from an SSE `data:` line, or null for anything unexpected. */
export function parseProjectEvent(eventName: string, data: string): ProjectEvent | null {
  if (!isProjectEventType(eventName)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  // The stream's events are not in the OpenAPI document: what is checked here is all that is checked.
  if (typeof parsed !== "object" || parsed === null || !("project" in parsed) || typeof parsed.project !== "object") {
    return null;
  }
  return { ...asDeclared<Omit<ProjectEvent, "type">>(parsed), type: eventName };
}
