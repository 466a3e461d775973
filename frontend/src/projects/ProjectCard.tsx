import type { Project } from "@latchkey/client";
import { useCallback, useEffect, useMemo, useRef, useState, type SubmitEvent } from "react";
import { api } from "../app/latchkey";
import { useAction } from "../app/useAction";
import { useResource } from "../app/useResource";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { LoadError } from "../components/LoadError";
import { formatDateTime } from "../lib/format";
import { FilesTable } from "./FilesTable";
import { UploadZone } from "./UploadZone";
import "./projects.css";

/** The id of a project's heading (focus goes there after it is created or renamed). */
export function projectHeadingId(id: number): string {
  return `project-${id}-name`;
}

interface ProjectCardProps {
  project: Project;
  /** Changes whenever the files should be read again (a file event, a reconnect). */
  fileRevision: number;
  onChanged: (project: Project) => void;
  /** After the project was deleted (the page moves focus: this card is gone). */
  onDeleted: (id: number) => void;
}

type Mode = "view" | "rename";
/** Where focus goes after a rename ends: the heading (saved) or the Rename button (cancelled). */
type FocusAfter = "heading" | "rename" | null;

/** One project of the Projects page: rename, delete, and its files (upload, download, delete), live. */
export function ProjectCard({ project, fileRevision, onChanged, onDeleted }: ProjectCardProps) {
  const { id, name } = project;
  const [mode, setMode] = useState<Mode>("view");
  const [draftName, setDraftName] = useState(name);
  const [nameError, setNameError] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const focusAfter = useRef<FocusAfter>(null);
  const fetchFiles = useCallback(() => api.listFiles(id), [id]);
  const { data: files, error: filesError, reload: reloadFiles } = useResource(fetchFiles, fileRevision);
  const { busy, error, setError, run } = useAction();
  const removal = useAction();
  const heading = useRef<HTMLHeadingElement>(null);
  const filesHeading = useRef<HTMLHeadingElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  const renameInput = useRef<HTMLInputElement>(null);
  const existingNames = useMemo(() => new Set((files ?? []).map((file) => file.name)), [files]);

  useEffect(() => {
    if (mode !== "view" || focusAfter.current === null) return;
    (focusAfter.current === "heading" ? heading.current : renameButton.current)?.focus();
    focusAfter.current = null;
  }, [mode]);

  function startRename(): void {
    setDraftName(name);
    setNameError(null);
    setError(null);
    setMode("rename");
  }

  function cancelRename(): void {
    setNameError(null);
    setError(null);
    setMode("view");
    focusAfter.current = "rename";
  }

  async function rename(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const newName = draftName.trim();
    if (!newName) {
      setNameError("Enter a name");
      renameInput.current?.focus();
      return;
    }
    if (newName === name) {
      cancelRename();
      return;
    }
    await run(async () => {
      onChanged(await api.updateProject(id, { name: newName }));
      setMode("view");
      focusAfter.current = "heading";
    });
  }

  async function remove(): Promise<void> {
    await removal.run(async () => {
      await api.deleteProject(id);
      setConfirmingDelete(false);
      onDeleted(id);
    });
  }

  const nameErrorId = `rename-${id}-error`;
  return (
    <li className="card project">
      <div className="project-head">
        <div className="project-title">
          <h2 className="project-name" id={projectHeadingId(id)} ref={heading} tabIndex={-1}>
            {name}
          </h2>
          {project.description && <p className="project-description">{project.description}</p>}
          <p className="muted small">
            Created {formatDateTime(project.created_at)} · Updated {formatDateTime(project.updated_at)}
          </p>
        </div>
        {mode === "view" && (
          <div className="actions">
            <button
              ref={renameButton}
              type="button"
              className="btn btn-small"
              aria-label={`Rename ${name}`}
              onClick={startRename}
            >
              Rename
            </button>
            <button
              type="button"
              className="btn btn-small btn-danger-outline"
              aria-label={`Delete ${name}`}
              onClick={() => {
                removal.setError(null);
                setConfirmingDelete(true);
              }}
            >
              Delete
            </button>
          </div>
        )}
      </div>

      {mode === "rename" && (
        <form
          className="inline-form panel"
          noValidate
          onSubmit={(event) => void rename(event)}
          onKeyDown={(event) => {
            if (event.key === "Escape") {
              event.preventDefault();
              cancelRename();
            }
          }}
        >
          <div className="field grow">
            <label htmlFor={`rename-${id}`}>New name</label>
            <input
              ref={renameInput}
              id={`rename-${id}`}
              type="text"
              aria-label={`New name for ${name}`}
              aria-invalid={nameError !== null}
              aria-describedby={nameError !== null ? nameErrorId : undefined}
              maxLength={200}
              required
              autoFocus
              value={draftName}
              onChange={(event) => {
                setDraftName(event.target.value);
                setNameError(null);
              }}
            />
            {nameError && (
              <p id={nameErrorId} className="projects-field-error">
                {nameError}
              </p>
            )}
          </div>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Save
          </button>
          <button type="button" className="btn" onClick={cancelRename}>
            Cancel
          </button>
        </form>
      )}

      {error && (
        <p role="alert" className="message error">
          {error}
        </p>
      )}

      <ConfirmDialog
        open={confirmingDelete}
        title={`Delete project ${name}?`}
        confirmLabel="Delete project"
        busy={removal.busy}
        error={removal.error}
        onConfirm={() => void remove()}
        onCancel={() => setConfirmingDelete(false)}
      >
        <p>
          <strong>{name}</strong> and all its files are deleted for everyone. This cannot be undone.
        </p>
      </ConfirmDialog>

      <div className="files">
        <div className="files-head">
          <h3 ref={filesHeading} tabIndex={-1} id={`project-${id}-files`}>
            Files
          </h3>
          <UploadZone projectId={id} projectName={name} existingNames={existingNames} onUploaded={reloadFiles} />
        </div>
        {filesError ? (
          <LoadError what={`The files of ${name}`} message={filesError} onRetry={reloadFiles} />
        ) : files === null ? (
          <p className="muted small">Loading files…</p>
        ) : files.length === 0 ? (
          <p className="muted small">No files yet.</p>
        ) : (
          <FilesTable
            projectId={id}
            projectName={name}
            files={files}
            onDeleted={() => {
              reloadFiles();
              filesHeading.current?.focus();
            }}
          />
        )}
      </div>
    </li>
  );
}
