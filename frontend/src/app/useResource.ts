import { useCallback, useEffect, useRef, useState } from "react";
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

type Change<T> = (current: T | null) => T | null;

/**
 * Data read from the API for a page: read when `fetcher` or `key` changes and on `reload()`; an answer
 * that arrives after a newer read started (or after unmount) is dropped. Local changes made while a read
 * is in flight are applied again on top of its answer, so an event that arrives while the list is being
 * read (or before its first answer) is never lost to a read that started before it.
 */
export function useResource<T>(fetcher: () => Promise<T>, key: unknown = null): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [revision, setRevision] = useState(0);
  const reading = useRef(false);
  const pending = useRef<Change<T>[]>([]);

  useEffect(() => {
    let current = true;
    reading.current = true;
    pending.current = [];
    fetcher().then(
      (value) => {
        if (!current) return;
        reading.current = false;
        const changes = pending.current;
        pending.current = [];
        setData(changes.reduce<T | null>((result, change) => change(result), value));
        setError(null);
      },
      (caught: unknown) => {
        if (!current) return;
        reading.current = false;
        pending.current = [];
        setError(describeError(caught));
      },
    );
    return () => {
      current = false;
    };
  }, [fetcher, key, revision]);

  const reload = useCallback(() => setRevision((value) => value + 1), []);
  const update = useCallback((change: Change<T>) => {
    if (reading.current) pending.current.push(change);
    setData(change);
  }, []);
  return { data, error, reload, update };
}
