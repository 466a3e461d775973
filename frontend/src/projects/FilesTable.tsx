import type { ProjectFile } from "@latchkey/client";
import { useEffect, useRef, useState } from "react";
import { api } from "../app/latchkey";
import { useAction } from "../app/useAction";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { DownloadIcon, TrashIcon } from "../components/icons";
import { formatBytes, formatDateTime } from "../lib/format";
import { TableHead } from "../components/TableHead";

/** Let the browser download `url` itself (Content-Disposition: attachment): nothing is read into the page. */
function navigateToDownload(url: string, name: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.rel = "noopener";
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}

interface FilesTableProps {
  projectId: number;
  projectName: string;
  files: ProjectFile[];
  /** After a file was deleted: read the files again and put focus somewhere named (the Files heading). */
  onDeleted: (name: string) => void;
}

/** A project's files: download (natively, by a short-lived link) and delete (after asking). */
export function FilesTable({ projectId, projectName, files, onDeleted }: FilesTableProps) {
  const [deleting, setDeleting] = useState<string | null>(null);
  const [fetchingLink, setFetchingLink] = useState<string | null>(null);
  // After a delete the row (and its button) is gone: focus goes where `onDeleted` puts it, not back.
  const [removed, setRemoved] = useState(false);
  // The name just deleted: `onDeleted` runs once the dialog has closed (a modal dialog makes the rest of
  // the page inert, so focus can move there only after it is gone).
  const justDeleted = useRef<string | null>(null);

  useEffect(() => {
    if (deleting !== null || justDeleted.current === null) return;
    const name = justDeleted.current;
    justDeleted.current = null;
    onDeleted(name);
  }, [deleting, onDeleted]);
  const removal = useAction();
  const download = useAction();

  async function startDownload(file: ProjectFile): Promise<void> {
    // Only the link is fetched (a small JSON answer); while it is, the button cannot be pressed again.
    setFetchingLink(file.name);
    try {
      await download.run(async () => {
        navigateToDownload(await api.downloadLink(projectId, file.name), file.name);
      });
    } finally {
      setFetchingLink(null);
    }
  }

  async function confirmDelete(): Promise<void> {
    const name = deleting;
    if (name === null) return;
    const done = await removal.run(async () => {
      await api.deleteFile(projectId, name);
      return true;
    });
    if (done) {
      setRemoved(true);
      justDeleted.current = name;
      setDeleting(null);
    }
  }

  return (
    <>
      {download.error && (
        <p role="alert" className="message error">
          {download.error}
        </p>
      )}
      <table className="table compact responsive files-table" aria-label={`Files of ${projectName}`}>
        <TableHead columns={["Name", "Size", "Type", "Updated"]} />
        <tbody>
          {files.map((file) => (
            <tr key={file.name}>
              <td className="file-name" data-label="Name">
                {file.name}
              </td>
              <td data-label="Size">{formatBytes(file.size)}</td>
              <td className="muted" data-label="Type">
                {file.content_type}
              </td>
              <td className="muted" data-label="Updated">
                {formatDateTime(file.updated_at)}
              </td>
              <td className="cell-actions">
                <div className="actions">
                  <button
                    type="button"
                    className="btn btn-small"
                    aria-label={`Download ${file.name}`}
                    disabled={fetchingLink === file.name}
                    onClick={() => void startDownload(file)}
                  >
                    <DownloadIcon />
                    Download
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger-outline"
                    aria-label={`Delete ${file.name}`}
                    onClick={() => {
                      removal.setError(null);
                      setRemoved(false);
                      setDeleting(file.name);
                    }}
                  >
                    <TrashIcon />
                    Delete
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting ?? ""}?`}
        confirmLabel="Delete file"
        busy={removal.busy}
        error={removal.error}
        returnFocus={!removed}
        onConfirm={() => void confirmDelete()}
        onCancel={() => setDeleting(null)}
      >
        <p>
          <strong>{deleting}</strong> is removed from {projectName} for everyone. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
