import { createClient, LatchkeyProvider } from "@latchkey/client";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

// The BFF is on another origin, which lists this app's origin in LATCHKEY_ALLOWED_ORIGINS.
const client = createClient({ baseUrl: import.meta.env.VITE_LATCHKEY_URL });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <LatchkeyProvider client={client}>
      <App />
    </LatchkeyProvider>
  </StrictMode>,
);
