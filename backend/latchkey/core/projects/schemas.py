"""Request and response bodies of the projects API, and how projects and files are shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from latchkey.core.models import Project, ProjectFile
from latchkey.core.validation import (
    DESCRIPTION_MAX,
    PROJECT_NAME_MAX,
    declared,
    description_pattern,
    name_pattern,
)

# Lengths match the columns, so an over-long value is a 400 here rather than a database error; the name
# is also trimmed and checked for control characters by the service (422 `invalid_name`), and the
# description for control characters other than tab and newlines (422 `invalid_description`).
ProjectName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=PROJECT_NAME_MAX),
    declared(pattern=name_pattern(PROJECT_NAME_MAX)),
]
Description = Annotated[
    str, msgspec.Meta(max_length=DESCRIPTION_MAX), declared(pattern=description_pattern())
]


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


def project_view(project: Project) -> ProjectView:
    return ProjectView(
        id=project.id,
        name=project.name,
        description=project.description,
        owner_id=project.owner_id,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def file_view(file: ProjectFile) -> FileView:
    return FileView(
        name=file.name,
        size=file.size,
        sha256=file.sha256,
        content_type=file.content_type,
        created_at=file.created_at,
        updated_at=file.updated_at,
    )
