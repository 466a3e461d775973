"""The backend-for-frontend: sealed session cookies, server-side sessions, CSRF defence, the bearer proxy."""
