/**
 * Tabs of the app tell each other about a login or a logout over a BroadcastChannel, so every tab
 * follows without a page reload: a logout sends the others to /login, a login makes them re-read.
 */

export const AUTH_CHANNEL_NAME = "latchkey-auth";

/** A logout says whether it ended every session of the user (`everywhere`), so each tab can say so. */
export type AuthMessage = { type: "login"; userId: number } | { type: "logout"; everywhere?: boolean };

export type AuthMessageListener = (message: AuthMessage) => void;

/** Only well-formed messages are acted on: anything else on the channel is ignored. */
export function isAuthMessage(value: unknown): value is AuthMessage {
  if (typeof value !== "object" || value === null) return false;
  const message = value as Record<string, unknown>;
  if (message.type === "logout") return true;
  return message.type === "login" && typeof message.userId === "number";
}

type ChannelFactory = (name: string) => BroadcastChannel;

const defaultFactory: ChannelFactory | null =
  typeof BroadcastChannel === "undefined" ? null : (name) => new BroadcastChannel(name);

export class AuthChannel {
  private readonly channel: BroadcastChannel | null;
  private readonly listeners = new Set<AuthMessageListener>();

  constructor(factory: ChannelFactory | null = defaultFactory) {
    this.channel = factory ? factory(AUTH_CHANNEL_NAME) : null;
    this.channel?.addEventListener("message", (event: MessageEvent<unknown>) => {
      if (!isAuthMessage(event.data)) return;
      const message = event.data;
      for (const listener of [...this.listeners]) listener(message);
    });
  }

  /** Tell the other tabs (a channel never hears its own messages). */
  post(message: AuthMessage): void {
    this.channel?.postMessage(message);
  }

  subscribe(listener: AuthMessageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
    this.channel?.close();
  }
}
