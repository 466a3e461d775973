"""Latchkey: a backend-for-frontend for React apps, and the core API it fronts."""

__version__ = "0.1.0"
