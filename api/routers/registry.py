"""Registry admin: upload the import files (all or nothing, every error listed), export them."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.audit import log_pull
from api.deps import DbPools, Key, require_role
from api.errors import ApiError
from api.models import ImportResult

router = APIRouter(prefix="/registry", tags=["registry"])

# The upload's size is bounded while it streams in (api.limits, JIENENG_API_MAX_UPLOAD_BYTES).
MAX_FILES = 20


@router.post(
    "/import",
    response_model=ImportResult,
    responses={
        422: {"description": "bad rows: every error with file, line, column and message; nothing imported"}
    },
)
def import_registry(
    key: Key, db: DbPools, files: Annotated[list[UploadFile], File(description="CSV or XLSX files")]
):
    """Admin only. Validate and upsert institutions, institution years and meters in one transaction."""
    from store.registry import RegistryImportError, import_files

    require_role(key, "admin")
    if not files or len(files) > MAX_FILES:
        raise ApiError(422, f"send between 1 and {MAX_FILES} files")
    payload = [(f.filename or "upload", f.file.read()) for f in files]
    try:
        with db.writing() as conn:
            summary = import_files(conn, payload, ZoneInfo(db.config.timezone))
    except RegistryImportError as exc:
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"{len(exc.errors)} error(s); nothing imported",
                "errors": [dataclasses.asdict(e) for e in exc.errors],
            },
        )
    return ImportResult(summary={**dataclasses.asdict(summary), "changed": summary.changed})


@router.get(
    "/export",
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
def export_registry(
    key: Key, db: DbPools, request: Request, format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"
) -> Response:
    """Admin only. The registry as import files (a zip); importing them back changes nothing."""
    from store.registry import export_files

    require_role(key, "admin")
    with db.reading() as conn:
        files = export_files(conn, ZoneInfo(db.config.timezone), format)
    log_pull(request, key, "registry_export", fmt=format)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="registry-{format}.zip"'},
    )
