/** The shapes of the BFF's and the core's JSON answers (timestamps are ISO 8601 strings). */

export interface User {
  id: number;
  email: string;
  name: string;
  role: string;
  is_developer: boolean;
}

export interface SessionInfo {
  id: string;
  created_at: string;
  expires_at: string;
  idle_expires_at: string;
}

export interface SessionBody {
  user: User;
  session: SessionInfo;
}

export interface ActiveSession {
  id: string;
  created_at: string;
  last_seen_at: string;
  user_agent: string;
  ip: string;
  current: boolean;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Me extends User {
  created_at: string;
}

export type Scope = "profile" | "projects:read" | "projects:write" | "admin";

export interface PersonalAccessToken {
  id: number;
  name: string;
  scopes: string[];
  prefix: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}

/** A token just created or refreshed: the only time its value is ever seen. */
export interface NewPersonalAccessToken extends PersonalAccessToken {
  token: string;
}

export interface ClientSecret {
  secret: string;
  created_at: string;
  previous_valid_until: string | null;
}

export interface Project {
  id: number;
  name: string;
  description: string;
  owner_id: number;
  created_at: string;
  updated_at: string;
}

export interface ProjectFile {
  name: string;
  size: number;
  sha256: string;
  content_type: string;
  created_at: string;
  updated_at: string;
}

export type ProjectEventType =
  | "project.created"
  | "project.updated"
  | "project.deleted"
  | "file.uploaded"
  | "file.deleted";

export interface ProjectEvent {
  type: ProjectEventType;
  project: Project;
  file?: ProjectFile;
}
