"""Browser sessions at the BFF, one job per module:

- `types`: the records passed around (session, tokens, grant, pending revocation) and the end codes;
- `store`: the `SessionStore` port; `sql_store` and `memory_store` implement it, `rows` is what both do to
  a row (the only place the version column changes), `token_box` seals tokens at rest;
- `timeouts`: when a session ends, when activity is written, when a token is refreshed, when to sweep;
- `cache`: the validated-session cache (one read per stale entry, voided by an end here);
- `refresher`: single-flight refresh (a lock per session, a claim on its row);
- `endings`: every way a session ends, and the `on_end` listeners told;
- `revoker`: revoking chains at the core, retried until confirmed; `sweeper`: the periodic round;
- `authorization_server`: the port to the core (`bff/core_client.py` speaks it over HTTP);
- `background`: work off the request's path; `service`: `SessionService`, what routes and proxy call.
"""
