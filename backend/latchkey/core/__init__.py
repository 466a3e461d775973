"""The core API (`/v1`): accounts, tokens, client secrets, projects, files and events."""
