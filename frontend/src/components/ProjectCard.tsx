import type { Project, ProjectFile } from "@latchkey/client";
import { useCallback, useRef, useState, type ChangeEvent, type SubmitEvent } from "react";
import { useAction } from "../app/useAction";
import { api } from "../app/latchkey";
import { useResource } from "../app/useResource";
import { DownloadIcon } from "./icons";
import { formatBytes, formatDateTime } from "../lib/format";

/** Save a Blob as a file: an object URL and an `<a download>`, which browsers treat as a download. */
function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

interface ProjectCardProps {
  project: Project;
  /** Changes whenever the files should be read again (a file event, a reconnect). */
  fileRevision: number;
  onChanged: (project: Project) => void;
  onDeleted: (id: number) => void;
}

type Mode = "view" | "rename" | "delete";

/** One project of the Projects page: rename, delete, and its files (upload, download), live. */
export function ProjectCard({ project, fileRevision, onChanged, onDeleted }: ProjectCardProps) {
  const { id, name } = project;
  const [mode, setMode] = useState<Mode>("view");
  const [draftName, setDraftName] = useState(name);
  const fetchFiles = useCallback(() => api.listFiles(id), [id]);
  const { data: files, error: filesError, reload: reloadFiles } = useResource(fetchFiles, fileRevision);
  const { busy, error, run } = useAction();
  const [uploading, setUploading] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  async function rename(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const newName = draftName.trim();
    if (!newName || newName === name) {
      setMode("view");
      return;
    }
    await run(async () => {
      onChanged(await api.updateProject(id, { name: newName }));
      setMode("view");
    });
  }

  async function remove(): Promise<void> {
    await run(async () => {
      await api.deleteProject(id);
      onDeleted(id);
    });
  }

  async function upload(event: ChangeEvent<HTMLInputElement>): Promise<void> {
    const chosen = [...(event.target.files ?? [])];
    if (chosen.length === 0) return;
    await run(async () => {
      try {
        for (const file of chosen) {
          setUploading(file.name);
          await api.uploadFile(id, file.name, file);
        }
      } finally {
        setUploading(null);
        if (fileInput.current) fileInput.current.value = "";
        reloadFiles();
      }
    });
  }

  async function download(file: ProjectFile): Promise<void> {
    await run(async () => {
      saveBlob(await api.downloadFile(id, file.name), file.name);
    });
  }

  return (
    <li className="card project">
      <div className="project-head">
        <div className="project-title">
          <h2 className="project-name">{name}</h2>
          {project.description && <p className="project-description">{project.description}</p>}
          <p className="muted small">
            Created {formatDateTime(project.created_at)} · Updated {formatDateTime(project.updated_at)}
          </p>
        </div>
        {mode === "view" && (
          <div className="actions">
            <button
              type="button"
              className="btn btn-small"
              aria-label={`Rename ${name}`}
              onClick={() => {
                setDraftName(name);
                setMode("rename");
              }}
            >
              Rename
            </button>
            <button
              type="button"
              className="btn btn-small btn-danger-outline"
              aria-label={`Delete ${name}`}
              onClick={() => setMode("delete")}
            >
              Delete
            </button>
          </div>
        )}
      </div>

      {mode === "rename" && (
        <form className="inline-form panel" onSubmit={(event) => void rename(event)}>
          <div className="field grow">
            <label htmlFor={`rename-${id}`}>New name</label>
            <input
              id={`rename-${id}`}
              type="text"
              aria-label={`New name for ${name}`}
              maxLength={200}
              required
              autoFocus
              value={draftName}
              onChange={(event) => setDraftName(event.target.value)}
            />
          </div>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Save
          </button>
          <button type="button" className="btn" onClick={() => setMode("view")}>
            Cancel
          </button>
        </form>
      )}

      {mode === "delete" && (
        <div className="panel panel-danger">
          <p>
            Delete <strong>{name}</strong> and all its files? This cannot be undone.
          </p>
          <div className="actions">
            <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void remove()}>
              Confirm delete
            </button>
            <button type="button" className="btn" onClick={() => setMode("view")}>
              Cancel
            </button>
          </div>
        </div>
      )}

      {(error ?? filesError) && (
        <p role="alert" className="message error">
          {error ?? filesError}
        </p>
      )}

      <div className="files">
        <div className="files-head">
          <h3>Files</h3>
          <label className="upload">
            <span className="upload-text">{uploading ? `Uploading ${uploading}…` : "Upload file"}</span>
            <input
              ref={fileInput}
              type="file"
              multiple
              aria-label={`Upload file to ${name}`}
              disabled={uploading !== null}
              onChange={(event) => void upload(event)}
            />
          </label>
        </div>
        {files === null ? (
          <p className="muted small">Loading files…</p>
        ) : files.length === 0 ? (
          <p className="muted small">No files yet.</p>
        ) : (
          <table className="table compact" aria-label={`Files of ${name}`}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Size</th>
                <th scope="col">Type</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {files.map((file) => (
                <tr key={file.name}>
                  <td className="file-name">{file.name}</td>
                  <td>{formatBytes(file.size)}</td>
                  <td className="muted">{file.content_type}</td>
                  <td className="muted">{formatDateTime(file.updated_at)}</td>
                  <td className="cell-actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      aria-label={`Download ${file.name}`}
                      onClick={() => void download(file)}
                    >
                      <DownloadIcon />
                      Download
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </li>
  );
}
