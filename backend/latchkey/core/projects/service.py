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
from latchkey.core.pagination import Page, decode_cursor, decode_id_cursor, id_in_range, page_of
from latchkey.core.projects.schemas import CreateProjectRequest, UpdateProjectRequest
from latchkey.core.projects.storage import StoredBlob
from latchkey.core.security.auth import Principal
from latchkey.core.validation import (
    PROJECT_NAME_MAX,
    check_description,
    check_file_name,
    clean_name,
    has_control,
)
from latchkey.problems import ProblemError

MAX_PROJECTS_PER_USER = 1000
CONTENT_TYPE_MAX = 200
DEFAULT_CONTENT_TYPE = "application/octet-stream"
PROJECT_CURSOR_KIND = "p"
FILE_CURSOR_KIND = "f"


def sees_all_projects(principal: Principal) -> bool:
    # The scope, not just the role: an admin's PAT narrowed to `projects:*` sees only its owner's projects.
    return "admin" in principal.scopes


def clean_project_name(name: str) -> str:
    """The trimmed name; 422 `invalid_name` when blank or holding control or bidirectional characters."""
    return clean_name(name, max_length=PROJECT_NAME_MAX, what="project")


def upload_content_type(header: str | None) -> str:
    """The Content-Type to record for an upload (application/octet-stream when absent)."""
    value = (header or "").strip()
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > CONTENT_TYPE_MAX or has_control(value) or not value.isascii():
        raise ProblemError(400, "invalid_content_type", "the Content-Type header is not usable")
    return value


def _file_cursor(cursor: str) -> str:
    name = decode_cursor(FILE_CURSOR_KIND, cursor)
    try:
        return check_file_name(name)
    except ProblemError:
        raise ProblemError(400, "invalid_cursor", "the cursor is not one this API issued") from None


# --- projects -------------------------------------------------------------------------------------------


def _not_found() -> ProblemError:
    return ProblemError(404, "not_found", "no such project")


async def list_projects(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[Project]:
    """One page of the caller's projects (every project for admins), newest first."""
    query = select(Project).order_by(Project.id.desc()).limit(limit + 1)
    if not sees_all_projects(principal):
        query = query.where(Project.owner_id == principal.user_id)
    if cursor is not None:
        query = query.where(Project.id < decode_id_cursor(PROJECT_CURSOR_KIND, cursor))
    return page_of(
        (await session.scalars(query)).all(), limit, PROJECT_CURSOR_KIND, lambda project: project.id
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
    session: AsyncSession, principal: Principal, data: CreateProjectRequest, *, now: datetime
) -> Project:
    """A new project of the caller's; 409 `project_limit_reached` at the cap."""
    name = clean_project_name(data.name)
    description = check_description(data.description)
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
    data: UpdateProjectRequest,
    *,
    now: datetime,
) -> tuple[Project, bool]:
    """Apply the given fields; returns the project and whether anything changed."""
    name = clean_project_name(data.name) if data.name is not None else None
    description = check_description(data.description) if data.description is not None else None
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


async def list_files(
    session: AsyncSession, principal: Principal, project_id: int, *, limit: int, cursor: str | None
) -> Page[ProjectFile]:
    """One page of a visible project's files in name order."""
    project = await visible_project(session, principal, project_id)
    query = select(ProjectFile).where(ProjectFile.project_id == project.id).order_by(ProjectFile.name)
    if cursor is not None:
        query = query.where(ProjectFile.name > _file_cursor(cursor))
    files = (await session.scalars(query.limit(limit + 1))).all()
    return page_of(files, limit, FILE_CURSOR_KIND, lambda file: file.name)


async def project_file(
    session: AsyncSession, project: Project, name: str, *, for_update: bool = False
) -> ProjectFile | None:
    query = select(ProjectFile).where(ProjectFile.project_id == project.id, ProjectFile.name == name)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def visible_file(
    session: AsyncSession, principal: Principal, project_id: int, name: str
) -> ProjectFile:
    """The file `name` of a project the caller may see, else 404."""
    project = await visible_project(session, principal, project_id)
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
