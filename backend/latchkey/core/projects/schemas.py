"""Request and response bodies of the projects API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

NAME_MAX = 200
DESCRIPTION_MAX = 2000

# Lengths match the columns, so an over-long value is a 400 here rather than a database error; the name
# is also trimmed and checked for control characters by the service (422 `invalid_name`).
ProjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
Description = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX)]


class ProjectView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    description: str
    owner_id: int
    created_at: datetime
    updated_at: datetime


class ProjectPage(msgspec.Struct, kw_only=True):
    items: list[ProjectView]
    next_cursor: str | None


class CreateProjectRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: ProjectName
    description: Description = ""


class UpdateProjectRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields left out (or null) stay unchanged; unknown fields are refused so a typo never passes."""

    name: ProjectName | None = None
    description: Description | None = None


class FileView(msgspec.Struct, kw_only=True):
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime
    updated_at: datetime


class FilePage(msgspec.Struct, kw_only=True):
    items: list[FileView]
    next_cursor: str | None
