"""Live events: an in-process broker and the `/v1/events` Server-Sent Events stream."""
