/** `@latchkey/client`: reach a Latchkey BFF from a React app (or any browser code). */
export { createClient, webSocketUrl } from "./latchkey.js";
export type { ClientOptions, EventHandlers, LatchkeyClient, ProviderLoginOptions } from "./latchkey.js";
export { BffClient } from "./client.js";
export type { CallOptions, ReauthHandler, SessionEndedListener } from "./client.js";
export {
  isReauthCancelled,
  isSessionEndedCode,
  networkError,
  ProblemError,
  problemFromBody,
  problemFromResponse,
  REAUTH_CANCELLED,
  reauthCancelled,
  SESSION_ENDED_CODES,
} from "./problem.js";
export type { SessionEndedCode } from "./problem.js";
export { createRoutes, routeUrl, asDeclared } from "./routes.js";
export type { BffPaths, Method, Paths, Route, RouteCalls, RouteFor, RouteOptions } from "./routes.js";
export { createApi, parseProjectEvent } from "./api.js";
export type { Api } from "./api.js";
export { openEventStream, SseParser } from "./sse.js";
export type { EventStreamHandle, EventStreamOptions, ServerSentEvent } from "./sse.js";
export { AUTH_CHANNEL_NAME, AuthChannel, isAuthMessage } from "./auth-channel.js";
export type { AuthMessage, AuthMessageListener } from "./auth-channel.js";
export { SessionController } from "./session.js";
export type { EndReason, SessionControllerOptions, SessionState, SessionStatus } from "./session.js";
export { LatchkeyProvider, useLatchkey, useReauthHandler, useReauthPrompt, useSession } from "./react.js";
export type { LatchkeyProviderProps, ReauthPrompt, Session } from "./react.js";
export type * from "./types.js";
export type { components as CoreComponents, paths as CorePaths } from "./core-api.js";
export { sendWithProgress, uploadProblem } from "./upload.js";
export type { UploadAnswer, UploadOptions, UploadProgress } from "./upload.js";
export type { UploadFileOptions } from "./api.js";
