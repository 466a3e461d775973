import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// No proxy: the app calls the BFF on its own origin (VITE_LATCHKEY_URL), with CORS and the cookie.
export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", port: 5174, strictPort: true },
  build: { outDir: "dist" },
});
