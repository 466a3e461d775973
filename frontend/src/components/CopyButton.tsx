import { useEffect, useRef, useState } from "react";

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

/**
 * A button that copies and then says so. The status region is always in the page (empty until a copy), so
 * screen readers, which only announce changes to a live region they already know, read "Copied".
 */
export function CopyButton({ label, text, fallback, onError, onCopied }: CopyButtonProps) {
  const [status, setStatus] = useState("");
  const timer = useRef<number | undefined>(undefined);

  useEffect(() => () => window.clearTimeout(timer.current), []);

  async function copy(): Promise<void> {
    try {
      const value = typeof text === "string" ? text : await text();
      if (value === null) return;
      const copied = await copyText(value, fallback?.());
      if (copied) onCopied?.();
      setStatus(copied ? "Copied to the clipboard." : "Copying was refused: press Ctrl+C (⌘C) to copy the selected text.");
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(() => setStatus(""), 4000);
    } catch (error) {
      onError?.(error);
    }
  }

  return (
    <>
      <button type="button" className="btn" onClick={() => void copy()}>
        {label}
      </button>
      <span role="status" aria-live="polite" aria-atomic="true" className="copy-status">
        {status}
      </span>
    </>
  );
}
