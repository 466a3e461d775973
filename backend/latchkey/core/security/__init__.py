"""Security primitives of the core: credentials, passwords, secret boxing, scopes, authentication."""
