/**
 * A read that failed: the reason, and (when the caller passes `onRetry`) a "Try again" button that reads
 * again. Every page's lists use it; `what` names what failed, e.g. "Your projects".
 */
export function LoadError({ message, onRetry, what }: { message: string; onRetry?: () => void; what: string }) {
  return (
    <div role="alert" className="message error load-error">
      <span>
        {what} could not be loaded. {message}
      </span>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
