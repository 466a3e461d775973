"""Security primitives of the core: credential format, password hashing, secret boxing, authentication."""
