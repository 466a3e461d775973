"""The BFF's session cookie: its attributes and their rules (`policy`), and the session id it carries
(`session_cookie`, sealed by `latchkey/sealing.py`)."""
