"""The credential format of SPEC §4 (`latchkey/core/security/credentials.py`), and that a malformed
token is refused before any database lookup."""

from __future__ import annotations

import hashlib
import math
import re
import string
import zlib
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.core.security import credentials
from latchkey.core.security.auth import resolve_token
from latchkey.core.security.credentials import Kind
from latchkey.core.security.passwords import PasswordHasher
from latchkey.core.state import CoreContext
from latchkey.problems import ProblemError
from latchkey.settings import CoreSettings

pytestmark = pytest.mark.database_agnostic

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SHAPE = re.compile(r"^lk[parsk]_[A-Za-z0-9]{49}$")
# Fixed vectors pin the format: CRC32 of prefix + random part, base62 (0-9A-Za-z), 6 characters.
KNOWN = [
    "lkp_00000000000000000000000000000000000000000002anijP",
    "lks_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ0q9mMr",
]


def expected_checksum(head: str) -> str:
    """The checksum written out independently of the module under test."""
    number, digits = zlib.crc32(head.encode("ascii")), ""
    for _ in range(6):
        number, rem = divmod(number, 62)
        digits = BASE62[rem] + digits
    assert number == 0
    return digits


@pytest.mark.parametrize("kind", list(Kind))
def test_generated_credentials_have_the_documented_shape(kind: Kind) -> None:
    value = credentials.generate(kind)
    assert value.startswith(f"{kind.value}_")
    assert len(value) == 4 + 43 + 6
    assert SHAPE.match(value)
    assert value[-6:] == expected_checksum(value[:-6])
    assert credentials.parse(value) is kind


def test_prefixes_are_the_documented_ones() -> None:
    assert {kind.value for kind in Kind} == {"lkp", "lka", "lkr", "lks"}


def test_the_random_part_carries_at_least_256_bits() -> None:
    assert credentials.RANDOM_LENGTH * math.log2(62) >= 256
    values = {credentials.generate(Kind.ACCESS)[4:47] for _ in range(300)}
    assert len(values) == 300
    # Every base62 character turns up across 300 × 43 draws (each would be missing with p ≈ 1e-90).
    assert set("".join(values)) == set(BASE62)


@pytest.mark.parametrize("value", KNOWN)
def test_known_answer_vectors(value: str) -> None:
    assert value[-6:] == expected_checksum(value[:-6])
    assert credentials.parse(value) is Kind(value[:3])


def test_hash_and_display_prefix() -> None:
    value = credentials.generate(Kind.PERSONAL)
    assert credentials.token_hash(value) == hashlib.sha256(value.encode()).hexdigest()
    assert credentials.display_prefix(value) == value[:12]
    assert value[-6:] not in credentials.display_prefix(value)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: "",
        lambda v: v[:-1],  # truncated
        lambda v: v + "0",  # extended
        lambda v: v[:-6],  # no checksum
        lambda v: v.upper(),
        lambda v: "lka" + v[3:],  # relabelled: the checksum covers the prefix
        lambda v: "lkx" + v[3:],  # unknown prefix
        lambda v: "lkp-" + v[4:],  # wrong separator
        lambda v: v[:10] + "-" + v[11:],  # not base62
        lambda v: v[:10] + "é" + v[11:],
        lambda v: v[:10] + "_" + v[11:],
        lambda v: v[:10] + " " + v[11:],
        lambda v: v[:-6] + "000000",
        lambda v: f" {v}",
    ],
)
def test_malformed_credentials_are_rejected(mangle: Any) -> None:
    value = credentials.generate(Kind.PERSONAL)
    assert credentials.parse(mangle(value)) is None


@given(st.text(max_size=80))
def test_random_text_is_rejected(value: str) -> None:
    assert credentials.parse(value) is None


@given(st.sampled_from(list(Kind)), st.text(alphabet=BASE62, min_size=49, max_size=49))
def test_well_shaped_strings_without_a_valid_checksum_are_rejected(kind: Kind, body: str) -> None:
    value = f"{kind.value}_{body}"
    valid = body[-6:] == expected_checksum(value[:-6])
    assert (credentials.parse(value) is kind) is valid


@given(
    st.sampled_from(list(Kind)),
    st.integers(min_value=0, max_value=52),
    st.characters(codec="utf-8"),
    st.randoms(use_true_random=False),
)
def test_every_single_character_change_is_caught(kind: Kind, position: int, char: str, rng: Any) -> None:
    value = credentials.generate(kind)
    if value[position] == char:
        char = BASE62[(BASE62.find(char) + 1 + rng.randrange(61)) % 62]
    mutated = value[:position] + char + value[position + 1 :]
    assert credentials.parse(mutated) is None


@given(st.sampled_from(list(Kind)), st.integers(min_value=4, max_value=51))
def test_swapping_neighbours_is_caught(kind: Kind, position: int) -> None:
    value = credentials.generate(kind)
    a, b = value[position], value[position + 1]
    if a == b:
        return
    swapped = value[:position] + b + a + value[position + 2 :]
    assert credentials.parse(swapped) is None


class ForbiddenDatabase:
    """A database stand-in that fails the test if anything tries to open a transaction."""

    def read(self) -> AbstractAsyncContextManager[Any]:
        self._refuse()

    def write(self) -> AbstractAsyncContextManager[Any]:
        self._refuse()

    @staticmethod
    def _refuse() -> NoReturn:
        raise AssertionError("a malformed token must be refused before any database access")


@pytest.fixture(scope="module")
def no_db_context() -> Iterator[CoreContext]:
    key = bytes(range(32))
    context = CoreContext.build(
        CoreSettings(secret_key=key),
        ForbiddenDatabase(),  # type: ignore[arg-type]
        PasswordHasher(concurrency=1),
    )
    yield context
    context.hasher.close()


def _bad_checksum(kind: Kind) -> str:
    value = credentials.generate(kind)
    last = value[-1]
    return value[:-1] + BASE62[(BASE62.index(last) + 1) % 62]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_bad_checksum(Kind.PERSONAL), id="pat-bad-checksum"),
        pytest.param(_bad_checksum(Kind.ACCESS), id="access-bad-checksum"),
        pytest.param(credentials.generate(Kind.REFRESH), id="refresh-token"),
        pytest.param(credentials.generate(Kind.CLIENT_SECRET), id="client-secret"),
        pytest.param("lkp_short", id="truncated"),
        pytest.param("", id="empty"),
    ],
)
async def test_resolve_token_refuses_malformed_tokens_without_a_lookup(
    no_db_context: CoreContext, value: str
) -> None:
    with pytest.raises(ProblemError) as caught:
        await resolve_token(no_db_context, value)
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_forbidden_database_really_is_reached_by_well_formed_tokens(
    no_db_context: CoreContext,
) -> None:
    # Guards the test above: a token that passes the format check does go to the database.
    with pytest.raises(AssertionError, match="before any database access"):
        await resolve_token(no_db_context, credentials.generate(Kind.ACCESS))
