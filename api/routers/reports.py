"""An institution's report for a year: the stored scoring explanation plus the previous year and a
monthly energy comparison. Every pull is recorded in the access log."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.audit import client_addr
from api.deps import RUN_OUTSIDE, Bearer, DbPools, key_on, require_visible
from api.errors import not_found
from api.exports.pdf import report_pdf
from api.exports.tables import file_response, file_responses, to_csv, to_xlsx
from api.models import (
    Institution,
    InstitutionResult,
    MonthlyEnergy,
    PreviousYear,
    Report,
    ReportDegreeDays,
    ReportHead,
    ReportProject,
    RunRef,
)
from api.params import DocFormat, InstitutionId
from api.routers.savings import _result as savings_result
from savings.report import SavingsSection, degree_day_summary, institution_section, pdf_flowables
from scoring.canonical import DETAIL_FORMAT
from scoring.coal import kgce_factors, kgce_per_meter_unit
from scoring.model import ResultInputs
from store import api_pulls

router = APIRouter(prefix="/institutions", tags=["reports"])
log = logging.getLogger("api.reports")

COLUMNS = [("section", "部分"), ("item", "项目"), ("value", "数值"), ("unit", "单位"), ("note", "说明")]


def monthly_energy(
    rows: list[dict], result: InstitutionResult | ResultInputs
) -> tuple[list[MonthlyEnergy], str]:
    factors = kgce_factors(result)
    year = result.year
    current: dict[int, float] = {}
    previous: dict[int, float] = {}
    skipped: set[str] = set()
    for r in rows:
        if r["energy_type"] == "water":
            continue
        # each meter unit on its own: an MWh feeder beside a kWh main meter, fuel in litres and in kilograms
        factor = kgce_per_meter_unit(factors, r["energy_type"], r["vehicle"], r["unit"])
        if factor is None:
            skipped.add(r["energy_type"])
            continue
        target = current if r["month"].year == year else previous
        target[r["month"].month] = target.get(r["month"].month, 0.0) + r["consumption"] * factor
    out = [
        MonthlyEnergy(month=m, energy_kgce=current.get(m), previous_kgce=previous.get(m))
        for m in range(1, 13)
    ]
    note = "综合能耗按本次评价所用折标系数由月度计量数据折算(含公务用车)。"
    if skipped:
        note += f" 未折算(评价中无系数):{', '.join(sorted(skipped))}。"
    return out, note


def savings_section(section: SavingsSection, result: InstitutionResult | ResultInputs) -> SavingsSection:
    """The verified-savings and degree-day section (read after the scope checks, so it only ever covers
    an institution the key may see), with per-area energy from the run's own inputs."""
    for y in (result.inputs.current, result.inputs.previous):
        if y is not None and y.year in (result.year, result.year - 1):
            area = y.floor_area_m2
            section.energy_per_area_kgce_m2[y.year] = (
                y.building_energy_kgce / area if y.building_energy_kgce is not None and area else None
            )
    return section


def report_rows(report: Report) -> list[dict]:
    r = report.result
    rows: list[dict] = [
        {"section": "机构", "item": "名称", "value": report.institution.name},
        {"section": "机构", "item": "编号", "value": report.institution.id},
        {
            "section": "机构",
            "item": "地区",
            "value": report.institution.region_name,
            "note": report.institution.region_code,
        },
        {"section": "评价", "item": "年度", "value": r.year},
        {
            "section": "评价",
            "item": "批次",
            "value": report.run.id,
            "note": f"{report.run.methodology_name} {report.run.methodology_version} {report.run.methodology_hash}",
        },
        {"section": "评价", "item": "总分", "value": r.total_points, "unit": "分"},
        {"section": "评价", "item": "是否达标", "value": r.eligible, "note": "; ".join(r.ineligible_reasons)},
        {
            "section": "评价",
            "item": "全省排名",
            "value": r.ranks.province,
            "note": f"共 {r.ranks.province_size}",
        },
        {"section": "评价", "item": "市内排名", "value": r.ranks.city, "note": f"共 {r.ranks.city_size}"},
        {
            "section": "评价",
            "item": "同类排名",
            "value": r.ranks.peer,
            "note": f"{r.peer_group.label},共 {r.ranks.peer_size}",
        },
    ]
    rows += [
        {"section": "指标", "item": i.label, "value": i.value, "unit": i.unit, "note": i.formula}
        for i in r.indicators
    ]
    rows += [
        {
            "section": "得分",
            "item": b.label,
            "value": b.points,
            "unit": f"/{b.max_points:g}",
            "note": b.reason,
        }
        for b in r.blocks
    ]
    rows += [{"section": "否决", "item": v.code, "value": None, "note": v.reason} for v in r.vetoes]
    for m in report.monthly_energy:
        rows.append(
            {
                "section": "逐月综合能耗",
                "item": f"{m.month}月",
                "value": m.energy_kgce,
                "unit": "kgce",
                "note": f"上年同月 {m.previous_kgce:.2f}" if m.previous_kgce is not None else "",
            }
        )
    for m in r.inputs.meters:
        rows.append(
            {
                "section": "数据质量",
                "item": m.meter_id,
                "value": m.coverage,
                "unit": "覆盖率",
                "note": f"最长缺测 {m.longest_gap_hours} h; 复位 {m.resets}; 隔离 {m.quarantined}; "
                f"冲突 {m.conflicts}; 拒收 {m.rejects}",
            }
        )
    if report.degree_days is not None:
        dd = report.degree_days
        for y in dd.years:
            rows.append(
                {
                    "section": "度日数",
                    "item": f"{y.year} HDD{dd.hdd_base_c:g}",
                    "value": y.hdd,
                    "unit": "°C·d",
                    "note": y.missing_reason
                    or f"{dd.region_code} {y.days_with_temperature}/{y.days_in_year} 天",
                }
            )
            rows.append(
                {
                    "section": "度日数",
                    "item": f"{y.year} CDD{dd.cdd_base_c:g}",
                    "value": y.cdd,
                    "unit": "°C·d",
                    "note": y.missing_reason or "",
                }
            )
            rows.append(
                {
                    "section": "度日数",
                    "item": f"{y.year} 单位面积能耗",
                    "value": y.energy_per_area_kgce_m2,
                    "unit": "kgce/m²",
                }
            )

        # Ratios (report year over the year before), not signed changes: a CSV cell starting with "-" reads
        # as a formula to a spreadsheet.
        def ratio(change: float | None) -> float | None:
            return None if change is None else 1 + change

        def text(change: float | None) -> str:
            return "—(缺气温数据)" if change is None else f"{1 + change:.3f}"

        rows.append(
            {
                "section": "度日数",
                "item": "单位面积能耗 本年/上年",
                "value": ratio(dd.energy_per_area_change),
                "note": f"HDD 本年/上年 {text(dd.hdd_change)}; CDD 本年/上年 {text(dd.cdd_change)}",
            }
        )
    for p in report.savings:
        for s in p.savings:
            rows.append(
                {
                    "section": "节能量核证",
                    "item": f"{p.id} {s.energy_type}",
                    "value": s.avoided,
                    "unit": s.unit,
                    "note": "; ".join(s.reasons)
                    if s.status != "ok"
                    else f"±{s.avoided_uncertainty} ({s.confidence_level}); {s.avoided_kgce} kgce; "
                    f"{s.avoided_cost_yuan} 元; 同比 {s.year_on_year_change}; {p.contract_ref or ''}",
                }
            )
    return rows


@router.get(
    "/{institution_id}/report",
    response_model=Report,
    responses=file_responses("csv", "xlsx", "pdf"),
    description="All inputs, indicators, blocks, vetoes, ranks and data quality of one institution for a year "
    "(the latest run you may see that includes it, of `year` when given, or `run_id`), with the previous year and monthly energy "
    "against the previous year. `format=pdf` includes the monthly chart.",
)
def institution_report(
    institution_id: InstitutionId,
    creds: Bearer,
    db: DbPools,
    request: Request,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="report year; neither year nor run_id: the latest")
    ] = None,
    run_id: Annotated[int | None, Query(ge=1, le=2**62, description="a specific run")] = None,
    format: DocFormat = "json",
):
    path = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    # The key on the same connection; then one statement reads everything and writes the access-log
    # row, only when every check below passes (committed with the read, before the response goes out).
    with db.logging() as conn:
        key = key_on(conn, request, creds)
        got = api_pulls.report_logged(
            conn,
            key,
            institution_id,
            run_id=run_id,
            year=year,
            fmt=format,
            path=path,
            client_addr=client_addr(request.scope),
        )
        inst = require_visible(got["institution"], f"institution {institution_id!r}")
        if run_id is not None:
            require_visible(got["run_visible"], f"scoring run {run_id}", RUN_OUTSIDE)
        found = got["found"]
        if found is None:
            what = f"run {run_id}" if run_id is not None else f"any scoring run of {year}"
            raise not_found(f"institution {institution_id!r} is not in {what}")
        # On the connection already held, after the checks: the pull read the section's temperatures, city
        # and whether there are projects; only an institution with projects reads them here.
        section = institution_section(
            conn, institution_id, found["year"], inst["region_code"], reads=got["section"]
        )
    # A detail of the current format is the result's JSON as the model would dump it (scoring.canonical.
    # DETAIL_FORMAT): a JSON report passes it through and reads only the inputs its figures need.
    passed_through = format == "json" and found["detail_format"] == DETAIL_FORMAT
    result = (ResultInputs if passed_through else InstitutionResult).model_validate_json(found["detail"])
    prev = found["previous"]
    months = got["months"]
    monthly, note = monthly_energy(months, result)
    section = savings_section(section, result)
    head = ReportHead(
        institution=Institution.model_validate(inst),
        run=RunRef(
            id=found["run_id"],
            year=found["year"],
            region_code=found["run_region_code"],
            methodology_name=found["methodology_name"],
            methodology_version=found["methodology_version"],
            methodology_hash=found["methodology_hash"],
            created_at=found["run_created_at"],
        ),
        previous_year=None
        if prev is None
        else PreviousYear(
            run_id=prev["run_id"],
            year=prev["year"],
            total_points=prev["total_points"],
            eligible=prev["eligible"],
            rank_peer=prev["rank_peer"],
            rank_city=prev["rank_city"],
            rank_province=prev["rank_province"],
        ),
        monthly_energy=monthly,
        monthly_energy_note=note,
        degree_days=ReportDegreeDays.model_validate(degree_day_summary(section)),
        savings=[
            ReportProject(**{**p, "savings": [savings_result(r) for r in p["savings"]]})
            for p in section.projects
        ],
    )
    if passed_through:
        # Serialised here: returning a model would make FastAPI validate the whole report again.
        body = head.model_dump_json()
        return Response(f'{body[:-1]},"result":{found["detail"]}}}', media_type="application/json")
    report = Report.model_construct(**dict(head), result=result)
    name = f"report-{institution_id}-{found['year']}"
    if format == "csv":
        return file_response(to_csv(COLUMNS, report_rows(report)), "csv", f"{name}.csv")
    if format == "xlsx":
        return file_response(
            to_xlsx(COLUMNS, report_rows(report), title=f"{found['year']}报告"), "xlsx", f"{name}.xlsx"
        )
    if format == "pdf":
        return file_response(report_pdf(report, extra=pdf_flowables(section)), "pdf", f"{name}.pdf")
    return Response(report.model_dump_json(), media_type="application/json")
