"""Rules of the projects domain: who sees which project, names, limits, and file metadata.

A project is visible to its owner, and to callers holding the `admin` scope (which only the admin role
can have). Anyone else gets 404, exactly as for a project that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.core.models import Project, ProjectFile, User
from latchkey.core.pagination import decode_cursor, decode_id_cursor, encode_cursor, id_in_range
from latchkey.core.projects.schemas import FilePage, FileView, ProjectPage, ProjectView
from latchkey.core.projects.storage import StoredBlob
from latchkey.core.security.auth import Principal
from latchkey.problems import ProblemError

MAX_PROJECTS_PER_USER = 1000
FILE_NAME_MAX = 255
CONTENT_TYPE_MAX = 200
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_PROJECT_CURSOR = "p"
_FILE_CURSOR = "f"


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


def sees_all_projects(principal: Principal) -> bool:
    # The scope, not just the role: an admin's PAT narrowed to `projects:*` sees only its owner's projects.
    return "admin" in principal.scopes


# --- validation -----------------------------------------------------------------------------------------


# Bidirectional formatting characters (embeddings, overrides, isolates, marks): in a name they make
# `txt.exe` look like `exe.txt` ("Trojan Source", CVE-2021-42574) in every UI and terminal that lists it.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
    "\u200e\u200f\u061c"  # LRM RLM ALM
)


def _has_control(value: str, allowed: str = "") -> bool:
    return any((ord(ch) < 32 or 127 <= ord(ch) < 160) and ch not in allowed for ch in value)


def _has_bidi(value: str) -> bool:
    return any(ch in BIDI_CONTROLS for ch in value)


def clean_project_name(name: str) -> str:
    """The trimmed name; 422 when blank or holding control characters (PostgreSQL cannot store NUL)."""
    trimmed = name.strip()
    if not trimmed:
        raise ProblemError(422, "invalid_name", "the project name cannot be blank")
    if _has_control(trimmed) or _has_bidi(trimmed):
        raise ProblemError(
            422, "invalid_name", "project names cannot contain control or bidirectional characters"
        )
    return trimmed


def check_description(description: str) -> str:
    if _has_control(description, allowed="\t\n\r"):
        raise ProblemError(422, "invalid_description", "descriptions cannot contain control characters")
    return description


def check_file_name(name: str) -> str:
    """A file name is stored, never used as a path; still refuse what would confuse users and tools."""
    if (
        not 1 <= len(name) <= FILE_NAME_MAX
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or _has_control(name)
        or _has_bidi(name)
    ):
        raise ProblemError(
            400,
            "invalid_file_name",
            "file names are 1-255 characters, not . or .., without /, \\, control or bidirectional "
            "characters",
        )
    return name


def upload_content_type(header: str | None) -> str:
    """The Content-Type to record for an upload (application/octet-stream when absent)."""
    value = (header or "").strip()
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > CONTENT_TYPE_MAX or _has_control(value) or not value.isascii():
        raise ProblemError(400, "invalid_content_type", "the Content-Type header is not usable")
    return value


def _file_cursor(cursor: str) -> str:
    name = decode_cursor(_FILE_CURSOR, cursor)
    try:
        return check_file_name(name)
    except ProblemError:
        raise ProblemError(400, "invalid_cursor", "the cursor is not one this API issued") from None


# --- projects -------------------------------------------------------------------------------------------


def _not_found() -> ProblemError:
    return ProblemError(404, "not_found", "no such project")


async def list_projects(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> ProjectPage:
    """One page of the caller's projects (every project for admins), newest first."""
    query = select(Project).order_by(Project.id.desc()).limit(limit + 1)
    if not sees_all_projects(principal):
        query = query.where(Project.owner_id == principal.user_id)
    if cursor is not None:
        query = query.where(Project.id < decode_id_cursor(_PROJECT_CURSOR, cursor))
    projects = list((await session.scalars(query)).all())
    more = len(projects) > limit
    projects = projects[:limit]
    return ProjectPage(
        items=[project_view(project) for project in projects],
        next_cursor=encode_cursor(_PROJECT_CURSOR, projects[-1].id) if more else None,
    )


async def visible_project(
    session: AsyncSession, principal: Principal, project_id: int, *, for_update: bool = False
) -> Project:
    """The project if the caller may see it, else 404 (the same answer as for a missing one)."""
    if not id_in_range(project_id):
        raise _not_found()
    query = select(Project).where(Project.id == project_id)
    if not sees_all_projects(principal):
        query = query.where(Project.owner_id == principal.user_id)
    if for_update:
        query = query.with_for_update()
    project = (await session.scalars(query)).one_or_none()
    if project is None:
        raise _not_found()
    return project


async def create_project(
    session: AsyncSession, principal: Principal, *, name: str, description: str, now: datetime
) -> Project:
    name = clean_project_name(name)
    description = check_description(description)
    # Lock the owner's row so concurrent creations (PostgreSQL) cannot both slip under the cap.
    await session.execute(select(User.id).where(User.id == principal.user_id).with_for_update())
    count = await session.scalar(select(func.count()).where(Project.owner_id == principal.user_id))
    if (count or 0) >= MAX_PROJECTS_PER_USER:
        raise ProblemError(
            409, "project_limit_reached", f"an account can own at most {MAX_PROJECTS_PER_USER} projects"
        )
    moment = now
    project = Project(
        owner_id=principal.user_id, name=name, description=description, created_at=moment, updated_at=moment
    )
    session.add(project)
    await session.flush()
    return project


async def update_project(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    *,
    name: str | None,
    description: str | None,
    now: datetime,
) -> tuple[Project, bool]:
    """Apply the given fields; returns the project and whether anything changed."""
    name = clean_project_name(name) if name is not None else None
    description = check_description(description) if description is not None else None
    project = await visible_project(session, principal, project_id, for_update=True)
    changed = False
    if name is not None and name != project.name:
        project.name = name
        changed = True
    if description is not None and description != project.description:
        project.description = description
        changed = True
    if changed:
        project.updated_at = now
        await session.flush()
    return project, changed


async def delete_project(
    session: AsyncSession, principal: Principal, project_id: int
) -> tuple[Project, list[str]]:
    """Delete the project and its file rows; returns the storage keys to remove once committed."""
    project = await visible_project(session, principal, project_id, for_update=True)
    keys = list(
        (
            await session.scalars(select(ProjectFile.storage_key).where(ProjectFile.project_id == project.id))
        ).all()
    )
    await session.delete(project)  # file rows go with it (ON DELETE CASCADE)
    await session.flush()
    return project, keys


# --- files ----------------------------------------------------------------------------------------------


def _file_not_found() -> ProblemError:
    return ProblemError(404, "not_found", "no such file")


async def list_files(session: AsyncSession, project: Project, *, limit: int, cursor: str | None) -> FilePage:
    """One page of a project's files in name order."""
    query = select(ProjectFile).where(ProjectFile.project_id == project.id).order_by(ProjectFile.name)
    if cursor is not None:
        query = query.where(ProjectFile.name > _file_cursor(cursor))
    files = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(files) > limit
    files = files[:limit]
    return FilePage(
        items=[file_view(file) for file in files],
        next_cursor=encode_cursor(_FILE_CURSOR, files[-1].name) if more else None,
    )


async def project_file(
    session: AsyncSession, project: Project, name: str, *, for_update: bool = False
) -> ProjectFile | None:
    query = select(ProjectFile).where(ProjectFile.project_id == project.id, ProjectFile.name == name)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def existing_file(session: AsyncSession, project: Project, name: str) -> ProjectFile:
    file = await project_file(session, project, name)
    if file is None:
        raise _file_not_found()
    return file


@dataclass(frozen=True, slots=True)
class SavedFile:
    project: Project
    file: ProjectFile
    created: bool
    replaced_key: str | None  # the previous blob, to remove once committed


async def save_file(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    *,
    name: str,
    blob: StoredBlob,
    content_type: str,
    now: datetime,
) -> SavedFile:
    """Point `name` at the new blob, creating the row or replacing the previous contents."""
    # Re-checked here: the project may have been deleted while the body was streaming.
    project = await visible_project(session, principal, project_id, for_update=True)
    moment = now
    file = await project_file(session, project, name, for_update=True)
    if file is None:
        file = ProjectFile(
            project_id=project.id,
            name=name,
            storage_key=blob.storage_key,
            size=blob.size,
            sha256=blob.sha256,
            content_type=content_type,
            created_at=moment,
            updated_at=moment,
        )
        session.add(file)
        await session.flush()
        return SavedFile(project=project, file=file, created=True, replaced_key=None)
    replaced_key = file.storage_key
    file.storage_key = blob.storage_key
    file.size = blob.size
    file.sha256 = blob.sha256
    file.content_type = content_type
    file.updated_at = moment
    await session.flush()
    return SavedFile(project=project, file=file, created=False, replaced_key=replaced_key)


async def delete_file(
    session: AsyncSession, principal: Principal, project_id: int, name: str
) -> tuple[Project, ProjectFile]:
    project = await visible_project(session, principal, project_id, for_update=True)
    file = await project_file(session, project, name, for_update=True)
    if file is None:
        raise _file_not_found()
    await session.delete(file)
    await session.flush()
    return project, file
