"""Scoring runs (start, list, fetch) and their rankings."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.audit import client_addr
from api.deps import (
    RUN_OUTSIDE,
    Bearer,
    DbPools,
    Key,
    Pools,
    key_on,
    loaded_methodology,
    require_role,
    require_visible,
)
from api.errors import ApiError, not_found
from api.exports.pdf import fmt_num, table_pdf
from api.exports.tables import file_response, file_responses, to_csv, to_xlsx
from api.models import Page, RankingPage, RunCreate, RunDetail, RunInfo, RunRef, ScoringJob
from api.params import Category, DocFormat, Limit, Offset, RegionFilter, RunId, Year, check_region_filter
from store import api_pulls, scoring_jobs
from store import api_queries as q
from store.api_keys import ApiKey
from store.scoring_jobs import JobQueueFull

router = APIRouter(tags=["runs"])
log = logging.getLogger("api.runs")

COLUMNS = [
    ("rank_province", "全省排名"),
    ("rank_city", "市内排名"),
    ("rank_peer", "同类排名"),
    ("institution_id", "机构编号"),
    ("name", "机构名称"),
    ("region_code", "地区代码"),
    ("category", "类别"),
    ("peer_group", "同类组"),
    ("total_points", "总分"),
    ("eligible", "达标"),
    ("leader", "能效领跑者"),
    ("vetoes_text", "否决项"),
]
# Relative PDF column widths, in COLUMNS order: room for ids, names, peer groups and veto reasons.
PDF_WEIGHTS = [9, 9, 9, 20, 40, 14, 14, 34, 12, 8, 11, 70]
Sort = Literal["rank_province", "rank_city", "rank_peer", "total_points", "institution_id", "name"]


def _visible_run(conn, key: ApiKey, run_id: int) -> dict:
    """The run's identity when the key may see it; 404 when there is no such run, 403 outside the scope."""
    return require_visible(q.run_checked(conn, key.scope, run_id), f"scoring run {run_id}", RUN_OUTSIDE)


@router.get("/runs", response_model=Page[RunInfo])
def list_runs(
    key: Key,
    db: DbPools,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
):
    """Runs the caller may see, newest first: province-wide runs, and runs of regions in or above its scope."""
    with db.reading() as conn:
        total, rows = q.list_runs(conn, key.scope, year=year, limit=limit, offset=offset)
    return Page[RunInfo](total=total, limit=limit, offset=offset, items=rows)


def _job_body(job: dict) -> dict:
    out = ScoringJob.model_validate({**job, "result": f"/v1/runs/{job['run_id']}" if job["run_id"] else None})
    return out.model_dump(mode="json")


@router.post(
    "/runs",
    response_model=ScoringJob,
    status_code=202,
    responses={
        403: {"description": "only admin and assessor keys start runs"},
        409: {"description": "the configured methodology is invalid"},
        429: {
            "description": "too many failed authentications, or too many scoring jobs of this key queued; see Retry-After"
        },
    },
)
def start_run(body: RunCreate, key: Key, db: DbPools, request: Request):
    """Queue a scoring run of a year (admin or assessor) with the configured methodology: 202 with the job
    (`Location` says where to follow it). Asking again while a job with the same year, region and
    methodology is queued or running returns that job; jobs of one year and methodology run one at a time."""
    require_role(key, "admin", "assessor")
    methodology_hash = loaded_methodology(request).hash
    with db.writing() as conn:
        if body.region_code and not q.region_exists(conn, body.region_code):
            raise not_found(f"region {body.region_code!r} not found")
        try:
            job, new = scoring_jobs.enqueue_job(
                conn,
                year=body.year,
                region_code=body.region_code,
                methodology_hash=methodology_hash,
                created_by=f"api:{key.name}",
            )
        except JobQueueFull as exc:
            raise ApiError(429, f"{exc}; wait for some to finish", headers={"Retry-After": "30"}) from exc
    worker = getattr(request.app.state, "job_worker", None)
    if new and worker is not None:
        worker.wake()
    return JSONResponse(
        _job_body(job), status_code=202, headers={"Location": f"/v1/scoring-jobs/{job['id']}"}
    )


JobId = Annotated[int, Path(ge=1, le=2**62, description="scoring job id", examples=[1])]


def _job(db: Pools, key: ApiKey, job_id: int) -> dict:
    require_role(key, "admin", "assessor")
    with db.reading() as conn:
        job = scoring_jobs.get_job(conn, job_id)
    if job is None:
        raise not_found(f"scoring job {job_id} not found")
    return job


@router.get(
    "/scoring-jobs/{job_id}",
    response_model=ScoringJob,
    responses={403: {"description": "only admin and assessor keys follow jobs"}},
)
def get_job(job_id: JobId, key: Key, db: DbPools):
    """A scoring job's status: queued, running, done (with its run) or failed (with the reason)."""
    return _job_body(_job(db, key, job_id))


@router.get(
    "/scoring-jobs/{job_id}/result",
    response_model=RunInfo,
    responses={
        403: {"description": "only admin and assessor keys follow jobs"},
        409: {"description": "the job is not done: still queued or running (see Retry-After), or failed"},
    },
)
def job_result(job_id: JobId, key: Key, db: DbPools):
    """The run a done job stored; 409 while it is queued or running, or when it failed."""
    job = _job(db, key, job_id)
    if job["status"] == "failed":
        raise ApiError(409, f"scoring job {job_id} failed: {job['error']}")
    if job["status"] != "done":
        raise ApiError(409, f"scoring job {job_id} is {job['status']}", headers={"Retry-After": "2"})
    with db.reading() as conn:
        run = q.get_run(conn, key.scope, job["run_id"])
    if run is None:
        raise not_found(f"the run of scoring job {job_id} was deleted")
    return run


@router.get("/runs/{run_id}", response_model=RunDetail)
def get_run(run_id: RunId, key: Key, db: DbPools):
    """A run with its methodology identity and the methodology text it used."""
    with db.reading() as conn:
        _visible_run(conn, key, run_id)
        return q.get_run(conn, key.scope, run_id, with_text=True)


def _ranking(
    pools: Pools,
    creds,
    request: Request,
    run_id: int | None,
    *,
    region_code,
    category,
    peer_group,
    eligible,
    sort,
    order,
    limit,
    offset,
    format,
    year: int | None = None,
):
    """A ranking page on one primary connection: the key, [the newest run of ``year`` covering what the
    caller asks for], and then one statement for the run's visibility, the page and the access-log row."""
    path = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    with pools.logging() as conn:
        key = key_on(conn, request, creds)
        if run_id is None:
            if region_code is not None:
                check_region_filter(conn, key.scope, region_code)
            run_id = q.latest_covering_run_id(conn, key.scope, year, region_code)
            if run_id is None:
                raise not_found(
                    f"no scoring run of {year} covers your scope"
                    + (f" and region {region_code}" if region_code else "")
                )
        count_key = (run_id, key.scope, region_code, category, peer_group, eligible)
        if region_code is not None:
            # The run's 404/403 come before the region filter's, as a caller would expect.
            _visible_run(conn, key, run_id)
            check_region_filter(conn, key.scope, region_code)
        # One statement: the run's visibility, the page, and the access-log row (written only when the
        # run is visible, committed with the read before the response goes out).
        run = api_pulls.ranking_page_logged(
            conn,
            key,
            run_id,
            fmt=format,
            path=path,
            region_code=region_code,
            category=category,
            peer_group=peer_group,
            eligible=eligible,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            offset=offset,
            known_total=pools.totals.get(count_key),
            client_addr=client_addr(request.scope),
        )
    require_visible(run, f"scoring run {run_id}", RUN_OUTSIDE)
    total, items = run["total"], run["items"]
    pools.totals.put(count_key, total)
    run_header = {"X-Run-Id": str(run_id)}
    if format == "json":
        # PostgreSQL built the rows' JSON (store.api_queries._ranking_page_sql, via store.api_pulls); their shape is RankingRow's,
        # which the OpenAPI tests check on every response.
        ref = RunRef.model_validate(run).model_dump_json()
        return Response(
            f'{{"total":{total},"limit":{limit},"offset":{offset},"run":{ref},"items":{items}}}',
            media_type="application/json",
            headers=run_header,
        )
    rows = json.loads(items)
    for r in rows:
        r["vetoes_text"] = "; ".join(f"{v['code']}: {v['reason']}" for v in r["vetoes"])
    name = f"ranking-{run['year']}-run{run_id}"
    if format == "csv":
        return file_response(to_csv(COLUMNS, rows), "csv", f"{name}.csv", headers=run_header)
    if format == "xlsx":
        return file_response(
            to_xlsx(COLUMNS, rows, title=f"{run['year']}排名"), "xlsx", f"{name}.xlsx", headers=run_header
        )
    title = f"{run['year']}年度公共机构节能评价排名"
    subtitle = (
        f"批次 {run_id} · 方法 {run['methodology_name']} {run['methodology_version']} · "
        f"第 {offset + 1}–{offset + len(rows)} 行,共 {total} 行"
    )
    body = [
        [
            r["rank_province"] or "—",
            r["rank_city"] or "—",
            r["rank_peer"] or "—",
            r["institution_id"],
            r["name"],
            r["region_code"],
            r["category"],
            r["peer_group"],
            fmt_num(r["total_points"]),
            "是" if r["eligible"] else "否",
            "是" if r["leader"] else "否",
            r["vetoes_text"],
        ]
        for r in rows
    ]
    return file_response(
        table_pdf(title, subtitle, [h for _, h in COLUMNS], body, weights=PDF_WEIGHTS),
        "pdf",
        f"{name}.pdf",
        headers=run_header,
    )


_RANKING_DOC = """Filter by region (and everything under it), category, peer group and eligibility; sort; paginate.
Each pull is recorded in the access log. `format=csv|xlsx|pdf` returns the page as a file. The run is named
in the body (`run`) and, for every format, in the `X-Run-Id` header."""
_RUN_HEADER = {
    "X-Run-Id": {"description": "the scoring run the ranks come from", "schema": {"type": "integer"}}
}


def _ranking_responses() -> dict:
    out = file_responses("csv", "xlsx", "pdf")
    out[200]["headers"] = _RUN_HEADER
    return out


@router.get(
    "/runs/{run_id}/rankings",
    response_model=RankingPage,
    description=_RANKING_DOC,
    responses=_ranking_responses(),
)
def run_rankings(
    run_id: RunId,
    creds: Bearer,
    db: DbPools,
    request: Request,
    region_code: RegionFilter = None,
    category: Category | None = None,
    peer_group: Annotated[str | None, Query(max_length=200)] = None,
    eligible: bool | None = None,
    sort: Sort = "rank_province",
    order: Literal["asc", "desc"] = "asc",
    limit: Limit = 100,
    offset: Offset = 0,
    format: DocFormat = "json",
):
    return _ranking(
        db,
        creds,
        request,
        run_id,
        region_code=region_code,
        category=category,
        peer_group=peer_group,
        eligible=eligible,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
        format=format,
    )


@router.get(
    "/rankings",
    response_model=RankingPage,
    responses=_ranking_responses(),
    description="The newest run of the year that covers everything you ask for: your scope, narrowed by "
    "`region_code` when given (a province-wide run, or one run for that region or a region above it; a "
    "newer run of one city never stands in for the province). " + _RANKING_DOC,
)
def latest_rankings(
    creds: Bearer,
    db: DbPools,
    request: Request,
    year: Year,
    region_code: RegionFilter = None,
    category: Category | None = None,
    peer_group: Annotated[str | None, Query(max_length=200)] = None,
    eligible: bool | None = None,
    sort: Sort = "rank_province",
    order: Literal["asc", "desc"] = "asc",
    limit: Limit = 100,
    offset: Offset = 0,
    format: DocFormat = "json",
):
    return _ranking(
        db,
        creds,
        request,
        None,
        region_code=region_code,
        category=category,
        peer_group=peer_group,
        eligible=eligible,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
        format=format,
        year=year,
    )
