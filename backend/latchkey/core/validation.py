"""Validation rules every core domain shares: what a name may hold, and how long names are.

One rule for "a control character in a name", used by tokens, projects, files and users: C0 and C1
controls and DEL (PostgreSQL cannot even store NUL), and the bidirectional formatting characters (they
make `txt.exe` look like `exe.txt` — "Trojan Source", CVE-2021-42574 — in every UI and terminal that lists
the name). Each limit is declared once here and used both by the check and by the request schema, so the
OpenAPI document states exactly what the check enforces.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from latchkey.problems import ProblemError

TOKEN_NAME_MAX = 100
PROJECT_NAME_MAX = 200
DESCRIPTION_MAX = 2000
USER_NAME_MAX = 200
FILE_NAME_MAX = 255

# Bidirectional formatting characters: embeddings, overrides, isolates, marks.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
    "\u200e\u200f\u061c"  # LRM RLM ALM
)
# The same sets as regular-expression class bodies, for the schemas.
_CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f"
_FORBIDDEN_CLASS = _CONTROL_CLASS + r"\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
# The end of the value: Python's `$` also matches before a final newline (ECMA-262's does not), so refuse
# that newline explicitly where the value may not hold one; both dialects then read the pattern alike.
_END = r"(?!\n)$"


def is_control(char: str) -> bool:
    """A C0 or C1 control character, or DEL."""
    return ord(char) < 32 or 127 <= ord(char) < 160


def has_control(value: str, allowed: str = "") -> bool:
    """Whether `value` holds a control character other than those in `allowed`."""
    return any(is_control(char) and char not in allowed for char in value)


def has_bidi(value: str) -> bool:
    return any(char in BIDI_CONTROLS for char in value)


def is_clean(value: str) -> bool:
    """No control and no bidirectional formatting character: what every stored name must be."""
    return not has_control(value) and not has_bidi(value)


def clean_name(name: str, *, max_length: int, what: str, required: bool = True) -> str:
    """The trimmed name; 422 `invalid_name` when blank (if `required`), over `max_length` characters once
    trimmed, or holding a control or bidirectional character."""
    value = name.strip()
    if required and not value:
        raise ProblemError(422, "invalid_name", f"the {what} name cannot be blank")
    if len(value) > max_length:
        raise ProblemError(422, "invalid_name", f"{what} names have at most {max_length} characters")
    if not is_clean(value):
        raise ProblemError(
            422, "invalid_name", f"{what} names cannot contain control or bidirectional characters"
        )
    return value


def name_pattern(max_length: int, *, required: bool = True) -> str:
    """A regular expression for what `clean_name` accepts: up to `max_length` clean characters, not all
    blank (if `required`), with any amount of surrounding whitespace (trimmed away)."""
    char, edge = f"[^{_FORBIDDEN_CLASS}]", rf"[^\s{_FORBIDDEN_CLASS}]"
    core = f"{edge}(?:{char}{{0,{max_length - 2}}}{edge})?"
    return rf"^\s*(?:{core})?\s*$" if not required else rf"^\s*{core}\s*$"


def description_pattern() -> str:
    """A regular expression for what `check_description` accepts: no control character but tab and
    newlines (bidirectional characters are allowed in free text)."""
    return r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def check_description(description: str) -> str:
    """422 `invalid_description` for a control character other than tab, newline and carriage return."""
    if has_control(description, allowed="\t\n\r"):
        raise ProblemError(422, "invalid_description", "descriptions cannot contain control characters")
    return description


def file_name_pattern() -> str:
    """A regular expression for what `check_file_name` accepts (the length is declared beside it)."""
    char, first = rf"[^/\\{_FORBIDDEN_CLASS}]", rf"[^./\\{_FORBIDDEN_CLASS}]"
    # Not `.` nor `..`: a first character other than a dot, or a dot and then one, or two dots and more.
    return rf"^(?:{first}|\.{first}|\.\.{char}){char}*{_END}"


def check_file_name(name: str) -> str:
    """A file name is stored, never used as a path; still refuse what would confuse users and tools
    (400 `invalid_file_name`: it is part of the URL, not of a body)."""
    if (
        not 1 <= len(name) <= FILE_NAME_MAX
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or not is_clean(name)
    ):
        raise ProblemError(
            400,
            "invalid_file_name",
            "file names are 1-255 characters, not . or .., without /, \\, control or bidirectional "
            "characters",
        )
    return name


def email_pattern() -> str:
    """A regular expression for what `accounts.service.normalize_email` accepts: one `@` with 1-64 and
    1-255 characters around it, no whitespace or control character inside, no control anywhere."""
    part = rf"[^@\s{_CONTROL_CLASS}]"
    blank = rf"[^\S{_CONTROL_CLASS}]*"
    return rf"^{blank}{part}{{1,64}}@{part}{{1,255}}{blank}{_END}"


def declared(**schema: Any) -> msgspec.Meta:
    """Constraints stated in the OpenAPI document only: the service checks them, answering 422 with its
    own `code` (a msgspec constraint would answer 400 `validation_failed` instead)."""
    return msgspec.Meta(extra_json_schema={"extra": schema})


# A name checked by `clean_name` in the service (422), declared to the document as such.
TokenName = Annotated[str, declared(pattern=name_pattern(TOKEN_NAME_MAX))]
