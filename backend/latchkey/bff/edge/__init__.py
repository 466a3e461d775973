"""The BFF's front door, before any route runs, one rule per module:

- `paths`: which part of the BFF a path belongs to (`/api`, `/bff`, the probes, the SPA);
- `csrf`: the CSRF rules and the middleware that applies them (and the two answer policies below);
- `cors`: preflights and CORS answer headers for the listed origins;
- `no_store`: `/bff` answers are never cached;
- `forwarded`: the browser's address behind trusted proxies;
- `static`: the built SPA, with history fallback;
- `protocol`: the HTTP protocol that keeps absolute-form targets visible to the app.
"""
