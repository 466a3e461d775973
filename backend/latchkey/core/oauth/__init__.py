"""oauth domain."""
