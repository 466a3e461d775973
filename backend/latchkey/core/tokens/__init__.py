"""tokens domain."""
