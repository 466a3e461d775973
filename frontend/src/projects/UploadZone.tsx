import { useEffect, useId, useRef, useState, type DragEvent } from "react";
import { api } from "../app/latchkey";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { describeError } from "../lib/format";

interface Transfer {
  name: string;
  loaded: number;
  total: number;
}

interface UploadZoneProps {
  projectId: number;
  projectName: string;
  /** The names already in the project: uploading one of them asks first. */
  existingNames: ReadonlySet<string>;
  /** After each file that arrived (the list is read again). */
  onUploaded: () => void;
}

function percent({ loaded, total }: Transfer): number {
  return total > 0 ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/**
 * The files' drop zone: "Choose file" (the keyboard's way) or drag and drop; each upload shows its
 * progress with "Cancel upload"; a name that exists already asks "Replace <name>?" first.
 */
export function UploadZone({ projectId, projectName, existingNames, onUploaded }: UploadZoneProps) {
  const input = useRef<HTMLInputElement>(null);
  const chooseButton = useRef<HTMLButtonElement>(null);
  const controller = useRef<AbortController | null>(null);
  const [transfer, setTransfer] = useState<Transfer | null>(null);
  const [dragging, setDragging] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [replacing, setReplacing] = useState<{ name: string; answer: (replace: boolean) => void } | null>(null);
  const hintId = useId();
  const transferring = useRef(false);

  // When a transfer ends, its progress bar and Cancel button go: focus that was on them (now on the
  // body) goes to "Choose file", never left on the body.
  useEffect(() => {
    if (transfer !== null) {
      transferring.current = true;
      return;
    }
    if (!transferring.current) return;
    transferring.current = false;
    const active = document.activeElement;
    if (active === null || active === document.body) chooseButton.current?.focus();
  }, [transfer]);

  function askToReplace(name: string): Promise<boolean> {
    return new Promise((resolve) => {
      setReplacing({
        name,
        answer: (replace) => {
          setReplacing(null);
          resolve(replace);
        },
      });
    });
  }

  async function uploadAll(files: File[]): Promise<void> {
    if (files.length === 0 || transfer !== null) return;
    setError(null);
    setMessage(null);
    const done: string[] = [];
    try {
      for (const file of files) {
        if (existingNames.has(file.name) && !(await askToReplace(file.name))) continue;
        const abort = new AbortController();
        controller.current = abort;
        setTransfer({ name: file.name, loaded: 0, total: file.size });
        try {
          await api.uploadFile(projectId, file.name, file, {
            signal: abort.signal,
            onProgress: ({ loaded, total }) => setTransfer({ name: file.name, loaded, total }),
          });
        } catch (caught) {
          if (isAbort(caught)) {
            setMessage(`Upload of ${file.name} cancelled.`);
          } else {
            setError(`${file.name} was not uploaded. ${describeError(caught)}`);
          }
          return; // the files after it are not sent either
        }
        done.push(file.name);
        onUploaded();
      }
      if (done.length > 0) setMessage(done.length === 1 ? `Uploaded ${done[0] ?? ""}.` : `Uploaded ${done.length} files.`);
    } finally {
      controller.current = null;
      setTransfer(null);
      if (input.current) input.current.value = "";
    }
  }

  function dropped(event: DragEvent<HTMLDivElement>): void {
    event.preventDefault();
    setDragging(false);
    void uploadAll([...event.dataTransfer.files]);
  }

  const busy = transfer !== null;
  return (
    <div
      className={`dropzone${dragging ? " dragging" : ""}`}
      role="group"
      aria-label={`Upload files to ${projectName}`}
      aria-describedby={hintId}
      onDragEnter={(event) => {
        event.preventDefault();
        if (!busy) setDragging(true);
      }}
      onDragOver={(event) => {
        event.preventDefault();
        event.dataTransfer.dropEffect = busy ? "none" : "copy";
      }}
      onDragLeave={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={dropped}
    >
      <input
        ref={input}
        type="file"
        multiple
        hidden
        aria-label={`Upload file to ${projectName}`}
        onChange={(event) => void uploadAll([...(event.target.files ?? [])])}
      />
      {transfer === null ? (
        <div className="dropzone-idle">
          <span id={hintId} className="muted small">
            Drop files here, or
          </span>
          <button
            ref={chooseButton}
            type="button"
            className="btn btn-small"
            aria-label={`Choose file to upload to ${projectName}`}
            onClick={() => input.current?.click()}
          >
            Choose file
          </button>
        </div>
      ) : (
        <div className="dropzone-progress">
          <span id={hintId} className="small transfer-name">
            Uploading {transfer.name}: {percent(transfer)}%
          </span>
          <progress
            max={100}
            value={percent(transfer)}
            aria-label={`Uploading ${transfer.name}`}
            aria-valuetext={`${percent(transfer)}%`}
          />
          <button
            type="button"
            className="btn btn-small"
            onClick={() => controller.current?.abort()}
          >
            Cancel upload
          </button>
        </div>
      )}
      <p className="dropzone-status small" role="status">
        {message}
      </p>
      {error && (
        <p role="alert" className="message error">
          {error}
        </p>
      )}
      <ConfirmDialog
        open={replacing !== null}
        title={`Replace ${replacing?.name ?? ""}?`}
        confirmLabel="Replace file"
        onConfirm={() => replacing?.answer(true)}
        onCancel={() => replacing?.answer(false)}
      >
        <p>
          {projectName} already has a file called <strong>{replacing?.name}</strong>. Replacing it overwrites the
          old file for everyone; cancel to keep it.
        </p>
      </ConfirmDialog>
    </div>
  );
}
