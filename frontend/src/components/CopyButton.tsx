import { useState } from "react";

/** Write text to the clipboard; where that is refused, select it in `fallback` for the user to copy. */
export async function copyText(text: string, fallback?: HTMLInputElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    fallback?.focus();
    fallback?.select();
    return false;
  }
}

interface CopyButtonProps {
  label: string;
  /** The text to copy, or a function producing it (e.g. after fetching it). */
  text: string | (() => Promise<string | null>);
  fallback?: () => HTMLInputElement | null;
  onError?: (error: unknown) => void;
  /** Called when the text reached the clipboard. */
  onCopied?: () => void;
}

/** A button that copies and then says so in a polite live region. */
export function CopyButton({ label, text, fallback, onError, onCopied }: CopyButtonProps) {
  const [status, setStatus] = useState("");

  async function copy(): Promise<void> {
    try {
      const value = typeof text === "string" ? text : await text();
      if (value === null) return;
      const copied = await copyText(value, fallback?.());
      if (copied) onCopied?.();
      setStatus(copied ? "Copied to the clipboard." : "Copying was refused: press Ctrl+C (⌘C) to copy the selected text.");
      window.setTimeout(() => setStatus(""), 4000);
    } catch (error) {
      onError?.(error);
    }
  }

  return (
    <>
      <button type="button" className="btn" onClick={() => void copy()}>
        {label}
      </button>
      {status && (
        <span role="status" aria-label={status} className="copy-status">
          {status}
        </span>
      )}
    </>
  );
}
