/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The BFF's origin (and base path), e.g. "https://api.example.com". */
  readonly VITE_LATCHKEY_URL: string;
}
