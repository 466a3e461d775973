/** The SPA's one client of the BFF (`@latchkey/client`), on the same origin as the BFF: Vite's proxy in
 * development, the BFF itself in production. */
import { createClient } from "@latchkey/client";

export const latchkey = createClient();

/** The named calls of every route the SPA uses. */
export const api = latchkey.api;
