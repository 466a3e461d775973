"""`bff/downloads.py`: the document's pattern for a download path states exactly `download_target`'s rule,
and tickets open only for their session, unaltered, within 60 seconds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latchkey.bff.downloads import DOWNLOAD_PATH_PATTERN, TICKET_SECONDS, DownloadTickets, download_target
from latchkey.problems import ProblemError
from latchkey.sealing import KeyRing

EDGY = st.sampled_from(
    [
        ".",
        "..",
        "/",
        "%",
        "%2e",
        "%2F",
        "%5c",
        "%00",
        "%7f",
        "%41",
        "%zz",
        "\n",
        "?",
        "#",
        "\\",
        " ",
        "é",
        "a",
        "0",
    ]
)
NAME = st.lists(st.one_of(EDGY, st.characters(max_codepoint=0x7F), st.characters()), max_size=6).map("".join)
PREFIX = st.sampled_from(
    [
        "/api/v1/projects/1/files/",
        "/api/v1/projects/42/files/",
        "/api/v1/projects/01/files/",
        "/api/v1/projects/",
    ]
)


def accepted(path: str) -> bool:
    try:
        download_target(path)
    except ProblemError as problem:
        refusal = (problem.status, problem.code)
    else:
        return True
    assert refusal == (400, "invalid_path")
    return False


@settings(max_examples=600)
@given(prefix=PREFIX, name=NAME)
def test_the_pattern_states_the_rule(prefix: str, name: str) -> None:
    path = prefix + name
    assert (re.search(DOWNLOAD_PATH_PATTERN, path) is not None) == accepted(path), repr(path)


def ring() -> KeyRing:
    return KeyRing([("k1", bytes(range(32)))])


def test_a_ticket_opens_for_its_session_only_and_only_while_fresh() -> None:
    now = [1_000_000.0]
    tickets = DownloadTickets(ring(), clock=lambda: now[0])
    ticket = tickets.issue("/v1/projects/1/files/a", "session-a")
    assert "/v1/" not in ticket and "session" not in ticket
    assert tickets.open(ticket, "session-a") == "/v1/projects/1/files/a"
    with pytest.raises(ProblemError) as other:
        tickets.open(ticket, "session-b")
    assert (other.value.status, other.value.code) == (403, "download_invalid")
    # Another ring (another deployment's keys) cannot open it either.
    with pytest.raises(ProblemError):
        DownloadTickets(KeyRing([("k1", bytes(32))]), clock=lambda: now[0]).open(ticket, "session-a")
    now[0] += TICKET_SECONDS
    assert tickets.open(ticket, "session-a") == "/v1/projects/1/files/a"
    now[0] += 1
    with pytest.raises(ProblemError) as expired:
        tickets.open(ticket, "session-a")
    assert (expired.value.status, expired.value.code) == (410, "download_expired")


@settings(max_examples=300)
@given(garbage=st.text(max_size=80))
def test_garbage_never_opens_and_never_raises_anything_else(garbage: str) -> None:
    with pytest.raises(ProblemError) as refused:
        DownloadTickets(ring()).open(garbage, "session-a")
    assert refused.value.code == "download_invalid"
