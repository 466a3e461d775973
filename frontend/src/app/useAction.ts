import { isReauthCancelled } from "@latchkey/client";
import { useCallback, useState } from "react";
import { describeError } from "../lib/format";

/** Turns a failure into the sentence a person reads (`describeError` unless a form knows better). */
export type DescribeError = (error: unknown) => string;

export interface Action {
  /** True while a `run` is in flight: the form's buttons are disabled. */
  busy: boolean;
  /** The last failure's message (for a `role="alert"` paragraph), cleared when the next run starts. */
  error: string | null;
  /** Say something without running anything (a form's own check), or clear the message. */
  setError: (message: string | null) => void;
  /** Run `action`; resolves to its value, or to undefined when it failed (the message is in `error`). */
  run: <T>(action: () => Promise<T>) => Promise<T | undefined>;
}

/** Where a run records what happens: React state in `useAction`, plain functions in its tests. */
export interface ActionState {
  setBusy: (busy: boolean) => void;
  setError: (message: string | null) => void;
}

/**
 * Busy while `action` runs, its earlier message cleared; a failure becomes a message rather than a
 * rejection, so event handlers can `void run(...)` without an unhandled promise. A call whose password
 * dialog the user cancelled (`reauth_cancelled`) is no failure to report: no message, the run is undefined. Runs are not queued or
 * refused while one is in flight: the components disable their buttons on `busy` instead.
 */
export async function runAction<T>(
  action: () => Promise<T>,
  state: ActionState,
  describe: DescribeError = describeError,
): Promise<T | undefined> {
  state.setBusy(true);
  state.setError(null);
  try {
    return await action();
  } catch (caught) {
    if (!isReauthCancelled(caught)) state.setError(describe(caught));
    return undefined;
  } finally {
    state.setBusy(false);
  }
}

/** The busy flag, the error message and the runner of a component's actions (create, save, delete, …). */
export function useAction(describe: DescribeError = describeError): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    <T,>(action: () => Promise<T>) => runAction(action, { setBusy, setError }, describe),
    [describe],
  );
  return { busy, error, setError, run };
}
