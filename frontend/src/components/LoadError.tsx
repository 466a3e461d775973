/** A read that failed: the reason, and a "Try again" that reads again (every page's lists use it). */
export function LoadError({ message, onRetry, what }: { message: string; onRetry: () => void; what: string }) {
  return (
    <div role="alert" className="message error load-error">
      <span>
        {what} could not be loaded. {message}
      </span>
      <button type="button" className="btn btn-small" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}
