import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The BFF checks that a present Origin matches the request's Host, so the dev proxy must pass the
// browser's Host (127.0.0.1:5173) through unchanged: `changeOrigin: false`.
const bff = { target: "http://127.0.0.1:8000", changeOrigin: false, ws: false };

export default defineConfig({
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: { "/bff": bff, "/api": bff },
  },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true },
  build: { outDir: "dist" },
});
