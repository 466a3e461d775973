"""The shared validation rules (`latchkey/core/validation.py`): each check and the pattern the OpenAPI
document states for it accept exactly the same values, so the document is the contract the code keeps."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from latchkey.core.accounts.service import normalize_email
from latchkey.core.validation import (
    BIDI_CONTROLS,
    FILE_NAME_MAX,
    check_description,
    check_file_name,
    clean_name,
    description_pattern,
    email_pattern,
    file_name_pattern,
    is_clean,
    name_pattern,
)
from latchkey.problems import ProblemError

# Characters the rules care about, mixed with ordinary ones so hypothesis reaches every branch.
EDGY = st.sampled_from(
    [
        *(" ", "\t", "\n", "\r", "\x00", "\x07", "\x1c", "\x7f", "\x85", "\xa0", "\u2028", "\u3000"),
        *(".", "/", "\\", "@", "a", "Z", "é", "İ", "日", "\U0001f600", "\u200d"),
        *BIDI_CONTROLS,
    ]
)
TEXT = st.text(st.one_of(EDGY, st.characters()), max_size=12)


def accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ProblemError:
        return False
    return True


def matches(pattern: str, value: str) -> bool:
    # How JSON Schema validators written in Python (schemathesis's) apply a pattern: an unanchored search.
    return re.search(pattern, value) is not None


@pytest.mark.parametrize("required", [True, False])
@settings(max_examples=400)
@given(value=TEXT)
def test_the_name_pattern_states_the_name_rule(value: str, required: bool) -> None:
    def check(name: str) -> object:
        return clean_name(name, max_length=5, what="test", required=required)

    assert matches(name_pattern(5, required=required), value) == accepts(check, value), repr(value)


@settings(max_examples=400)
@given(value=TEXT)
def test_the_file_name_pattern_states_the_file_name_rule(value: str) -> None:
    assume(len(value) <= FILE_NAME_MAX)  # the length is declared separately (maxLength)
    assert matches(file_name_pattern(), value) == accepts(check_file_name, value), repr(value)


@settings(max_examples=400)
@given(value=TEXT)
def test_the_description_pattern_states_the_description_rule(value: str) -> None:
    assert matches(description_pattern(), value) == accepts(check_description, value), repr(value)


@settings(max_examples=400)
@given(local=TEXT, domain=TEXT, at=st.sampled_from(["@", "", "@@"]))
def test_the_email_pattern_states_the_email_rule(local: str, domain: str, at: str) -> None:
    value = local + at + domain
    # Lower-casing can lengthen a character (`İ`): the pattern counts what was sent, not what is stored.
    assume(len(value.lower()) == len(value))
    assert matches(email_pattern(), value) == accepts(normalize_email, value), repr(value)


def test_one_control_rule_for_every_name() -> None:
    for bad in ["a\x00b", "bell\x07", "del\x7f", "c1\x85x", "txt\u202eexe.pdf", "mark\u200f"]:
        assert not is_clean(bad)
        with pytest.raises(ProblemError) as caught:
            clean_name(bad, max_length=100, what="test")
        assert (caught.value.status, caught.value.code) == (422, "invalid_name")
        with pytest.raises(ProblemError) as caught:
            check_file_name(bad)
        assert (caught.value.status, caught.value.code) == (400, "invalid_file_name")
    # Ordinary text, including non-ASCII letters, emoji sequences and surrounding blanks, is fine.
    assert clean_name("  Café 日本 👩\u200d💻  ", max_length=100, what="test") == "Café 日本 👩\u200d💻"
    assert clean_name("", max_length=100, what="test", required=False) == ""


def test_name_limits_count_the_trimmed_name() -> None:
    assert clean_name(" " + "x" * 5 + " ", max_length=5, what="test") == "x" * 5
    with pytest.raises(ProblemError):
        clean_name("x" * 6, max_length=5, what="test")
    with pytest.raises(ProblemError):
        clean_name("   ", max_length=5, what="test")
