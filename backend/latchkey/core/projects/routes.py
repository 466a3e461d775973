"""Routes of the projects domain: `/v1/projects` and their files.

File bodies stream straight between the socket and the disk: an upload is authenticated and its project
checked before the first byte is read, written to a temporary file while it is hashed, and renamed into
place; the database is touched only before and after the transfer, never during it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import anyio
import msgspec
from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.exc import IntegrityError

from latchkey.core.models import Project, ProjectFile
from latchkey.core.openapi import problem_responses
from latchkey.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from latchkey.core.projects import service
from latchkey.core.projects.schemas import (
    CreateProjectRequest,
    FilePage,
    FileView,
    ProjectPage,
    ProjectView,
    UpdateProjectRequest,
    file_view,
    project_view,
)
from latchkey.core.projects.storage import FileStore, StoredBlob
from latchkey.core.security.auth import Caller, Principal, bearer
from latchkey.core.state import Context, CoreContext
from latchkey.core.validation import FILE_NAME_MAX, check_file_name, file_name_pattern
from latchkey.guards import require_json, strict_json_body
from latchkey.problems import ProblemError

READ = bearer(scope="projects:read")
WRITE = bearer(scope="projects:write")

# The `name` path parameter: checked by `check_file_name` (400 `invalid_file_name`), stated here.
FileName = Annotated[
    str,
    Parameter(
        description="the file's name (1–255 characters; not . or ..; no /, \\, control or bidi characters)",
        schema_extra={"pattern": file_name_pattern(), "maxLength": FILE_NAME_MAX},
    ),
]

_READ_ERRORS = problem_responses(400, 401, 403, 404)
_JSON_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 413, 415, 422)


def _store(ctx: CoreContext) -> FileStore:
    return FileStore(ctx.settings.files_dir)


def _publish(ctx: CoreContext, kind: str, project: Project, file: ProjectFile | None = None) -> None:
    """Tell the project's owner's event streams about a committed change."""
    event: dict[str, Any] = {"type": kind, "project": msgspec.to_builtins(project_view(project))}
    if file is not None:
        event["file"] = msgspec.to_builtins(file_view(file))
    ctx.broker.publish(project.owner_id, event)


def _file_name(raw: str) -> str:
    # The `path` parameter type captures the rest of the URL (with a leading slash), so a name holding a
    # decoded `%2F` reaches this check and gets a clear 400 rather than an unexplained 404.
    return check_file_name(raw.removeprefix("/"))


# --- projects -------------------------------------------------------------------------------------------


@get("/", opt=READ, summary="List projects", responses=problem_responses(400, 401, 403))
async def list_projects(
    ctx: Context, principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> ProjectPage:
    """The caller's projects (every project for admins), newest first; pass `next_cursor` as `cursor`."""
    async with ctx.db.read() as session:
        page = await service.list_projects(session, principal, limit=limit, cursor=cursor)
    return ProjectPage(items=[project_view(project) for project in page.items], next_cursor=page.next_cursor)


@post(
    "/",
    opt=WRITE,
    guards=[require_json, strict_json_body],
    summary="Create a project",
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, s409="`project_limit_reached`"),
)
async def create_project(ctx: Context, principal: Caller, data: CreateProjectRequest) -> ProjectView:
    async with ctx.db.write() as session:
        project = await service.create_project(session, principal, data, now=ctx.clock.now())
    _publish(ctx, "project.created", project)
    return project_view(project)


@get("/{project_id:int}", opt=READ, summary="Get a project", responses=_READ_ERRORS)
async def get_project(ctx: Context, principal: Caller, project_id: int) -> ProjectView:
    async with ctx.db.read() as session:
        return project_view(await service.visible_project(session, principal, project_id))


@patch(
    "/{project_id:int}",
    opt=WRITE,
    guards=[require_json, strict_json_body],
    summary="Change a project",
    responses=_JSON_WRITE_ERRORS,
)
async def update_project(
    ctx: Context, principal: Caller, project_id: int, data: UpdateProjectRequest
) -> ProjectView:
    """Set `name` and/or `description`; fields left out stay as they are."""
    async with ctx.db.write() as session:
        project, changed = await service.update_project(
            session, principal, project_id, data, now=ctx.clock.now()
        )
    if changed:
        _publish(ctx, "project.updated", project)
    return project_view(project)


@delete("/{project_id:int}", opt=WRITE, summary="Delete a project and its files", responses=_READ_ERRORS)
async def delete_project(ctx: Context, principal: Caller, project_id: int) -> None:
    async with ctx.db.write() as session:
        project, storage_keys = await service.delete_project(session, principal, project_id)
    await _store(ctx).remove(*storage_keys)
    _publish(ctx, "project.deleted", project)


# --- files ----------------------------------------------------------------------------------------------


@get("/{project_id:int}/files", opt=READ, summary="List a project's files", responses=_READ_ERRORS)
async def list_files(
    ctx: Context,
    principal: Caller,
    project_id: int,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> FilePage:
    """The project's files in name order; pass `next_cursor` as `cursor`."""
    async with ctx.db.read() as session:
        page = await service.list_files(session, principal, project_id, limit=limit, cursor=cursor)
    return FilePage(items=[file_view(file) for file in page.items], next_cursor=page.next_cursor)


@put(
    "/{project_id:int}/files/{name:path}",
    opt=WRITE,
    summary="Upload or replace a file",
    responses={
        201: ResponseSpec(FileView, description="a new file", generate_examples=False),
        **problem_responses(400, 401, 403, 404, 413),
    },
)
async def upload_file(
    request: Request[Any, Any, State], ctx: Context, principal: Caller, project_id: int, name: FileName
) -> Response[FileView]:
    """Store the raw request body as the file `name` (any content type; up to LATCHKEY_MAX_BODY_BYTES):
    201 when new, 200 when it replaced the previous contents."""
    name = _file_name(name)
    content_type = service.upload_content_type(request.headers.get("content-type"))
    # Check access before reading a byte of the body, in a transaction that ends before the body streams.
    async with ctx.db.read() as session:
        await service.visible_project(session, principal, project_id)
    store = _store(ctx)
    try:
        blob = await store.receive(request.stream())
    except RequestEntityTooLarge:
        raise ProblemError(
            413, "payload_too_large", f"files are at most {ctx.settings.max_body_bytes} bytes"
        ) from None
    except InternalServerException:
        # Litestar's way of saying the client went away mid-body; nothing was stored.
        raise ProblemError(400, "incomplete_body", "the request body ended early") from None
    try:
        saved = await _save_file(ctx, principal, project_id, name, blob, content_type)
    except BaseException:
        with anyio.CancelScope(shield=True):  # even when the client is gone: leave no orphan blob
            await store.remove(blob.storage_key)
        raise
    if saved.replaced_key is not None:
        await store.remove(saved.replaced_key)
    _publish(ctx, "file.uploaded", saved.project, saved.file)
    return Response(file_view(saved.file), status_code=201 if saved.created else 200)


async def _save_file(
    ctx: CoreContext,
    principal: Principal,
    project_id: int,
    name: str,
    blob: StoredBlob,
    content_type: str,
) -> service.SavedFile:
    # Two first uploads of one name can race on PostgreSQL (nothing to lock yet): the loser's insert hits
    # the unique constraint, and its retry finds the winner's row and replaces it.
    for attempt in range(2):
        try:
            async with ctx.db.write() as session:
                return await service.save_file(
                    session,
                    principal,
                    project_id,
                    name=name,
                    blob=blob,
                    content_type=content_type,
                    now=ctx.clock.now(),
                )
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


@get(
    "/{project_id:int}/files/{name:path}",
    opt=READ,
    summary="Download a file",
    # Documented as any type: the answer carries the content type the file was uploaded with.
    media_type="*/*",
    responses=_READ_ERRORS,
)
async def download_file(ctx: Context, principal: Caller, project_id: int, name: FileName) -> Stream:
    """The file's contents, as an attachment with the content type it was uploaded with."""
    name = _file_name(name)
    async with ctx.db.read() as session:
        file = await service.visible_file(session, principal, project_id, name)
    # Opened before answering: a concurrent replace or delete unlinks the old blob, but an open handle
    # keeps reading the contents that belong with the metadata above.
    blob = await _store(ctx).open(file.storage_key)
    if blob is None:
        raise ProblemError(404, "not_found", "no such file")
    return Stream(
        blob.chunks(),
        media_type=file.content_type,
        headers={
            "Content-Type": file.content_type,
            "Content-Length": str(blob.size),
            "ETag": f'"{file.sha256}"',
            # Uploaded content is the user's, served from the app's own origin (through the BFF): never
            # let a browser render it as a page of the app.
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-cache",
        },
    )


@delete("/{project_id:int}/files/{name:path}", opt=WRITE, summary="Delete a file", responses=_READ_ERRORS)
async def delete_file(ctx: Context, principal: Caller, project_id: int, name: FileName) -> None:
    name = _file_name(name)
    async with ctx.db.write() as session:
        project, file = await service.delete_file(session, principal, project_id, name)
    await _store(ctx).remove(file.storage_key)
    _publish(ctx, "file.deleted", project, file)


router = Router(
    path="/v1/projects",
    route_handlers=[
        list_projects,
        create_project,
        get_project,
        update_project,
        delete_project,
        list_files,
        upload_file,
        download_file,
        delete_file,
    ],
    tags=["projects"],
    security=[{"bearer": []}],
)
