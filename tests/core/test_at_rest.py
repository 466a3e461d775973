"""SPEC §7: a copy of the core database must not let anyone call the API.

Every flow that stores a credential runs on a core of its own; then the raw bytes of the SQLite file and
its WAL (or, on PostgreSQL, every text and bytea value of every table) are searched for the plaintext
tokens, client secrets and passwords. Positive controls (the tokens' SHA-256 digests, the secrets' keyed
lookup hashes, Argon2id hashes) prove the search looked at the data that was written.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from latchkey.core.security import credentials
from latchkey.core.security.credentials import Kind
from latchkey.core.security.secret_box import SecretBox
from latchkey.db import is_sqlite, sqlite_path
from latchkey.settings import decode_key
from tests.support import CoreServer, Session, login, random_ip, unique_email


def new_password() -> str:
    return f"pw-{secrets.token_urlsafe(18)}"


async def stored_bytes(core: CoreServer) -> bytes:
    """Everything the database holds, as one byte string."""
    if is_sqlite(core.database_url):
        path = sqlite_path(core.database_url)
        assert path is not None
        parts = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
        return b"\n".join(part.read_bytes() for part in parts if part.exists())
    import asyncpg

    dsn = make_url(core.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            """
            SELECT table_name, column_name, data_type FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb')
            ORDER BY table_name, column_name
            """
        )
        assert columns
        values: list[bytes] = []
        for column in columns:
            rows = await conn.fetch(f'SELECT "{column["column_name"]}" AS v FROM "{column["table_name"]}"')
            for row in rows:
                value = row["v"]
                if value is None:
                    continue
                values.append(
                    bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else str(value).encode()
                )
        return b"\n".join(values)
    finally:
        await conn.close()


async def test_no_credential_is_stored_in_plaintext(core_factory: Any, http: httpx.AsyncClient) -> None:
    core = await core_factory()
    box = SecretBox(decode_key(core.env["LATCHKEY_CORE_SECRET_KEY"]))
    tokens: list[str] = []
    client_secrets: list[str] = []
    passwords: list[str] = []

    # A developer (its client secret printed by the CLI), an admin and a member, each with its own password.
    developer_password, admin_password, member_password = new_password(), new_password(), new_password()
    passwords += [developer_password, admin_password, member_password]
    developer = await core.create_user(developer=True, password=developer_password)
    admin = await core.create_user(admin=True, password=admin_password)
    member = await core.create_user(password=member_password)
    first_secret = developer["client_secret"]
    client_secrets.append(first_secret)

    # Password grants and a refresh (refresh tokens rotate; both generations are recorded).
    member_session = await login(http, core, first_secret, member["email"], member_password)
    tokens += [member_session.access_token, member_session.refresh_token]
    refreshed = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": member_session.refresh_token},
        headers={"Authorization": f"Secret {first_secret}"},
    )
    assert refreshed.status_code == 200, refreshed.text
    member_session = Session(
        refreshed.json()["access_token"], refreshed.json()["refresh_token"], refreshed.json()
    )
    tokens += [member_session.access_token, member_session.refresh_token]

    # A personal access token, and its refresh.
    created = await http.post(
        f"{core.url}/v1/me/tokens",
        json={"name": "ci", "scopes": ["projects:read"], "expires_in_days": 30},
        headers=member_session.headers,
    )
    assert created.status_code == 201, created.text
    tokens.append(created.json()["token"])
    renewed = await http.post(
        f"{core.url}/v1/me/tokens/{created.json()['id']}/refresh", headers=member_session.headers
    )
    assert renewed.status_code == 201, renewed.text
    tokens.append(renewed.json()["token"])

    # The developer views and rotates its client secret.
    developer_session = await login(http, core, first_secret, developer["email"], developer_password)
    tokens += [developer_session.access_token, developer_session.refresh_token]
    shown = await http.get(f"{core.url}/v1/me/client-secret", headers=developer_session.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["secret"] == first_secret
    rotated = await http.post(f"{core.url}/v1/me/client-secret/rotate", headers=developer_session.headers)
    assert rotated.status_code == 200, rotated.text
    client_secrets.append(rotated.json()["secret"])

    # An admin creates a developer through the API; the new user changes their password.
    admin_session = await login(http, core, first_secret, admin["email"], admin_password)
    tokens += [admin_session.access_token, admin_session.refresh_token]
    api_password, changed_password = new_password(), new_password()
    passwords += [api_password, changed_password]
    made = await http.post(
        f"{core.url}/v1/admin/users",
        json={"email": unique_email("rest"), "password": api_password, "is_developer": True},
        headers=admin_session.headers,
    )
    assert made.status_code == 201, made.text
    made_session = await login(http, core, first_secret, made.json()["email"], api_password)
    tokens += [made_session.access_token, made_session.refresh_token]
    their_secret = await http.get(f"{core.url}/v1/me/client-secret", headers=made_session.headers)
    assert their_secret.status_code == 200, their_secret.text
    client_secrets.append(their_secret.json()["secret"])
    changed = await http.post(
        f"{core.url}/v1/me/password",
        json={"current_password": api_password, "new_password": changed_password},
        headers=made_session.headers,
    )
    assert changed.status_code == 204, changed.text
    # A failed login leaves a counter row too (keyed by the account, never the password tried).
    wrong = new_password()
    passwords.append(wrong)
    failed = await http.post(
        f"{core.url}/v1/oauth/token",
        data={"grant_type": "password", "username": member["email"], "password": wrong},
        headers={"Authorization": f"Secret {first_secret}", "X-Forwarded-For": random_ip()},
    )
    assert failed.status_code == 400

    for token in tokens:
        assert credentials.parse(token) in (Kind.ACCESS, Kind.REFRESH, Kind.PERSONAL)
    for secret in client_secrets:
        assert credentials.parse(secret) is Kind.CLIENT_SECRET

    stored = await stored_bytes(core)

    # Positive controls: the search sees what was written.
    for token in tokens:
        assert credentials.token_hash(token).encode() in stored, (
            "token digest not found: wrong data searched?"
        )
    for secret in client_secrets:
        assert box.lookup_hash(secret).encode() in stored
    assert stored.count(b"$argon2id$") >= 4

    # The plaintexts are nowhere: not whole, not their random part, not in the log either.
    log = core.log().encode()
    for plaintext in tokens + client_secrets:
        for needle in (plaintext.encode(), plaintext[4:].encode()):
            assert needle not in stored, f"{plaintext[:4]}… stored in plaintext"
            assert needle not in log
    for password in passwords:
        assert password.encode() not in stored, "a password is stored in plaintext"
        assert password.encode() not in log
