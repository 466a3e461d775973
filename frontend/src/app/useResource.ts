import { useCallback, useEffect, useState } from "react";
import { describeError } from "../lib/format";

export interface Resource<T> {
  /** The last value read (kept while a reload runs), or null before the first answer. */
  data: T | null;
  error: string | null;
  /** Read again. */
  reload: () => void;
  /** Change the value locally (after a create, an event, …) without reading it again. */
  update: (change: (current: T | null) => T | null) => void;
}

/**
 * Data read from the API for a page: read when `fetcher` or `key` changes and on `reload()`; an answer
 * that arrives after a newer read started (or after unmount) is dropped.
 */
export function useResource<T>(fetcher: () => Promise<T>, key: unknown = null): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [revision, setRevision] = useState(0);

  useEffect(() => {
    let current = true;
    fetcher().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(null);
      },
      (caught: unknown) => {
        if (current) setError(describeError(caught));
      },
    );
    return () => {
      current = false;
    };
  }, [fetcher, key, revision]);

  const reload = useCallback(() => setRevision((value) => value + 1), []);
  const update = useCallback((change: (current: T | null) => T | null) => setData(change), []);
  return { data, error, reload, update };
}
