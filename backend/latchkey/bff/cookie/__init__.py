"""The BFF's session cookie: its attributes and their rules (`policy`), and its sealed value (`sealing`)."""
