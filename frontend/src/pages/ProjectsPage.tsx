import { parseProjectEvent, type Project, type ProjectEvent } from "@latchkey/client";
import { useCallback, useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { useAuth } from "../app/auth";
import { api, latchkey } from "../app/latchkey";
import { useAction } from "../app/useAction";
import { useResource } from "../app/useResource";
import { LoadError } from "../components/LoadError";
import { ProjectCard, projectHeadingId } from "../projects/ProjectCard";

/** Newest first, as the API lists them. */
function sortProjects(projects: Project[]): Project[] {
  return [...projects].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
}

function upsert(projects: Project[], project: Project): Project[] {
  return sortProjects([...projects.filter((item) => item.id !== project.id), project]);
}

type LiveState = "connecting" | "live" | "reconnecting";

const fetchProjects = () => api.listProjects().then(sortProjects);

export function ProjectsPage() {
  const { epoch } = useAuth();
  const { data: projects, error: loadError, reload, update } = useResource(fetchProjects, epoch);
  const [fileRevisions, setFileRevisions] = useState<Record<number, number>>({});
  const [live, setLive] = useState<LiveState>("connecting");
  const [newName, setNewName] = useState("");
  const [nameError, setNameError] = useState<string | null>(null);
  const { busy: creating, error: createError, run } = useAction();
  const nameId = useId();
  const nameErrorId = useId();
  const nameInput = useRef<HTMLInputElement>(null);
  const pageHeading = useRef<HTMLHeadingElement>(null);
  // A project just created: its heading takes focus once it is on the page.
  const focusProject = useRef<number | null>(null);
  // A project just deleted: the page heading takes focus once its card (and open dialog) is gone.
  const focusPageHeading = useRef(false);

  useEffect(() => {
    if (focusPageHeading.current) {
      focusPageHeading.current = false;
      pageHeading.current?.focus();
    }
    if (focusProject.current === null) return;
    const heading = document.getElementById(projectHeadingId(focusProject.current));
    if (heading) {
      heading.focus();
      focusProject.current = null;
    }
  }, [projects]);

  const apply = useCallback(
    (event: ProjectEvent) => {
      const { project } = event;
      if (event.type === "project.deleted") {
        update((current) => current?.filter((item) => item.id !== project.id) ?? current);
        return;
      }
      // Before the first answer there is nothing to change yet; useResource applies it to that answer.
      update((current) => (current === null ? current : upsert(current, project)));
      if (event.type === "file.uploaded" || event.type === "file.deleted") {
        setFileRevisions((current) => ({ ...current, [project.id]: (current[project.id] ?? 0) + 1 }));
      }
    },
    [update],
  );

  useEffect(() => {
    const stream = latchkey.events(api.eventsPath, {
      onOpen: (reconnected) => {
        setLive("live");
        // Nothing is replayed: whatever changed before the stream was (re)opened is read again.
        reload();
        if (reconnected) {
          setFileRevisions((current) => Object.fromEntries(Object.entries(current).map(([id, n]) => [id, n + 1])));
        }
      },
      onError: () => setLive("reconnecting"),
      onEvent: (message) => {
        const event = parseProjectEvent(message.event, message.data);
        if (event) apply(event);
      },
    });
    return () => stream.close();
  }, [reload, apply, epoch]);

  async function create(event: SubmitEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const name = newName.trim();
    if (!name) {
      setNameError("Enter a name");
      nameInput.current?.focus();
      return;
    }
    await run(async () => {
      const project = await api.createProject(name);
      update((current) => upsert(current ?? [], project));
      setNewName("");
      focusProject.current = project.id;
    });
  }

  return (
    <>
      <div className="page-header">
        <div>
          <h1 ref={pageHeading} tabIndex={-1}>
            Projects
          </h1>
          <p className="muted">Your projects and their files. Changes made elsewhere appear here as they happen.</p>
        </div>
        {/* Never "Live" beside a list that failed to load: the page is not showing what is there. */}
        <span className={`live-badge ${loadError ? "unavailable" : live}`} aria-live="polite">
          {loadError
            ? "Not up to date"
            : live === "live"
              ? "Live"
              : live === "connecting"
                ? "Connecting…"
                : "Reconnecting…"}
        </span>
      </div>

      <section className="card" aria-label="Create a project">
        <form className="inline-form" noValidate onSubmit={(event) => void create(event)}>
          <div className="field grow">
            <label htmlFor={nameId}>New project name</label>
            <input
              ref={nameInput}
              id={nameId}
              type="text"
              maxLength={200}
              required
              aria-invalid={nameError !== null}
              aria-describedby={nameError !== null ? nameErrorId : undefined}
              value={newName}
              onChange={(event) => {
                setNewName(event.target.value);
                setNameError(null);
              }}
              placeholder="e.g. Quarterly report"
            />
            {nameError && (
              <p id={nameErrorId} className="projects-field-error">
                {nameError}
              </p>
            )}
          </div>
          <button type="submit" className="btn btn-primary" disabled={creating}>
            Create project
          </button>
        </form>
        {createError && (
          <p role="alert" className="message error">
            {createError}
          </p>
        )}
      </section>

      {loadError && <LoadError what="Your projects" message={loadError} onRetry={reload} />}
      {projects === null && !loadError && <p className="muted">Loading projects…</p>}
      {projects?.length === 0 && <p className="empty">No projects yet. Create your first one above.</p>}
      <ul className="project-list" aria-label="Projects">
        {projects?.map((project) => (
          <ProjectCard
            key={project.id}
            project={project}
            fileRevision={(fileRevisions[project.id] ?? 0) + epoch}
            onChanged={(changed) => update((current) => upsert(current ?? [], changed))}
            onDeleted={(id) => {
              update((current) => current?.filter((item) => item.id !== id) ?? current);
              // The card (and the button that opened its dialog) is gone: the page heading is focused.
              focusPageHeading.current = true;
            }}
          />
        ))}
      </ul>
    </>
  );
}
