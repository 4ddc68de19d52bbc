"""Generate the example province: examples/institutions.csv, institution_years.csv, meters.csv,
reported_usage.csv, province.xlsx.

Deterministic (fixed seed): run it again and the files come out byte-identical. The files are
written by the same code as `jieneng registry export`, so importing and exporting them gives
them back unchanged.

    .venv/bin/python examples/make_examples.py

Names are plausible Jiangsu public institutions; floor areas, headcounts and meter ratings are
invented but sized for their kind (offices 5,000-40,000 m², hospitals 30,000-200,000 m², schools
10,000-300,000 m²). For schools the headcount counts staff and students.

reported_usage.csv holds what each institution reported in its annual statistics return
(公共机构能源资源消费统计) for the baseline year 2020 and for 2024, the years before the demo's meter data:
electricity, water, natural gas where it has a gas meter, vehicle gasoline where it has a vehicle meter.
They are sized from the simulator's own yearly intensities (sim/profiles.py, with the character the
simulator gives each institution under its default seed and shares), so they match what `jieneng simulate`
produces for 2025: 2020 about 5-15 % above the 2025 intensity (a few institutions did worse), 2024 1-5 %.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim import profiles  # noqa: E402
from store.registry_files import (  # noqa: E402
    INSTITUTION_YEARS,
    INSTITUTIONS,
    METERS,
    REPORTED_USAGE,
    write_csv,
    write_xlsx,
)

OUT = Path(__file__).resolve().parent
TZ = ZoneInfo("Asia/Shanghai")
YEARS = (2020, 2024, 2025, 2026)
BASELINE_YEAR = 2020
NORTH = {"320300", "320700", "320800", "320900", "321300"}  # 徐州 连云港 淮安 盐城 宿迁: 寒冷

# (region code, city, id prefix, [(slug, name, category, sub_kind, admin_level, street)])
PROVINCE: list[tuple[str, str, str, list[tuple[str, str, str, str, str, str]]]] = [
    (
        "320100",
        "南京",
        "js",
        [
            ("jgswglj", "江苏省机关事务管理局", "government", "", "province", "玄武区北京东路70号"),
            ("fgw", "江苏省发展和改革委员会", "government", "", "province", "玄武区北京东路70号"),
            ("rmyy", "江苏省人民医院", "hospital", "grade3", "province", "鼓楼区广州路300号"),
            ("msg", "江苏省美术馆", "venue", "culture", "province", "玄武区长江路266号"),
            ("ggzy", "江苏省公共资源交易中心", "other", "", "province", "建邺区江东中路"),
            ("njty", "南京体育学院", "school", "university", "province", "玄武区灵谷寺路8号"),
        ],
    ),
    (
        "320100",
        "南京",
        "nj",
        [
            ("fgw", "南京市发展和改革委员会", "government", "", "city", "建邺区江东中路265号"),
            ("yz1", "南京市第一中学", "school", "secondary", "city", "秦淮区中华路"),
            ("glyey", "南京市鼓楼幼儿园", "school", "kindergarten", "city", "鼓楼区北京西路"),
            ("yy1", "南京市第一医院", "hospital", "grade3", "city", "秦淮区长乐路68号"),
            ("ots", "南京奥林匹克体育中心", "venue", "sports", "city", "建邺区江东中路222号"),
            ("bolan", "南京国际博览中心", "venue", "exhibition", "city", "建邺区江东中路300号"),
            ("gc-zf", "南京市高淳区人民政府", "government", "", "county", "高淳区淳溪街道"),
        ],
    ),
    (
        "320200",
        "无锡",
        "wx",
        [
            ("jgswj", "无锡市机关事务管理局", "government", "", "city", "滨湖区观山路199号"),
            ("yz1", "无锡市第一中学", "school", "secondary", "city", "梁溪区学前街"),
            ("jndx", "江南大学", "school", "university", "province", "滨湖区蠡湖大道1800号"),
            ("rmyy", "无锡市人民医院", "hospital", "grade3", "city", "梁溪区清扬路299号"),
            ("bwy", "无锡博物院", "venue", "culture", "city", "梁溪区钟书路100号"),
            ("jy-rmyy", "江阴市人民医院", "hospital", "grade2", "county", "江阴市寿山路163号"),
        ],
    ),
    (
        "320300",
        "徐州",
        "xz",
        [
            ("fgw", "徐州市发展和改革委员会", "government", "", "city", "云龙区元和路1号"),
            ("yz1", "徐州市第一中学", "school", "secondary", "city", "云龙区和平路"),
            ("ykdx-fy", "徐州医科大学附属医院", "hospital", "grade3", "province", "泉山区淮海西路99号"),
            ("yesz", "徐州幼儿师范高等专科学校", "school", "vocational", "city", "铜山区学苑路"),
            ("atzx", "徐州奥体中心", "venue", "sports", "city", "云龙区汉源大道"),
            ("px-zfb", "沛县人民政府办公室", "government", "", "county", "沛县汉城路"),
            ("gjj", "徐州市住房公积金管理中心", "other", "", "city", "云龙区新元大道"),
        ],
    ),
    (
        "320400",
        "常州",
        "cz",
        [
            ("czj", "常州市财政局", "government", "", "city", "新北区龙锦路1280号"),
            ("rmyy1", "常州市第一人民医院", "hospital", "grade3", "city", "天宁区局前街185号"),
            ("syxx", "常州市实验小学", "school", "primary", "city", "天宁区局前街"),
            ("xxzy", "常州信息职业技术学院", "school", "vocational", "city", "武进区鸣新中路22号"),
            ("tsg", "常州市图书馆", "venue", "culture", "city", "钟楼区延陵西路"),
            ("ly-jyj", "溧阳市教育局", "government", "", "county", "溧阳市燕山中路"),
        ],
    ),
    (
        "320500",
        "苏州",
        "sz",
        [
            ("jgswj", "苏州市机关事务管理局", "government", "", "city", "姑苏区三香路"),
            ("yz1", "苏州市第一中学", "school", "secondary", "city", "姑苏区人民路"),
            ("szdx", "苏州大学", "school", "university", "province", "姑苏区十梓街1号"),
            ("szdx-fy1", "苏州大学附属第一医院", "hospital", "grade3", "province", "姑苏区十梓街188号"),
            ("bolan", "苏州国际博览中心", "venue", "exhibition", "city", "工业园区苏州大道东688号"),
            ("ks-rmyy1", "昆山市第一人民医院", "hospital", "grade3", "county", "昆山市前进西路"),
            ("ggzy", "苏州市公共资源交易中心", "other", "", "city", "姑苏区三香路"),
        ],
    ),
    (
        "320600",
        "南通",
        "nt",
        [
            ("fgw", "南通市发展和改革委员会", "government", "", "city", "崇川区世纪大道6号"),
            ("rmyy1", "南通市第一人民医院", "hospital", "grade3", "city", "崇川区孩儿巷北路6号"),
            ("ntzx", "南通中学", "school", "secondary", "city", "崇川区濠西路"),
            ("zydx", "南通职业大学", "school", "vocational", "city", "崇川区青年中路89号"),
            ("tyzx", "南通市体育中心", "venue", "sports", "city", "崇川区世纪大道"),
            ("rg-rmyy", "如皋市人民医院", "hospital", "grade2", "county", "如皋市宁海路"),
        ],
    ),
    (
        "320700",
        "连云港",
        "lyg",
        [
            ("jgswj", "连云港市机关事务管理局", "government", "", "city", "海州区朝阳东路"),
            ("rmyy1", "连云港市第一人民医院", "hospital", "grade3", "city", "海州区通灌北路"),
            ("syyey", "连云港市实验幼儿园", "school", "kindergarten", "city", "海州区海连中路"),
            ("hydx", "江苏海洋大学", "school", "university", "province", "海州区苍梧路59号"),
            ("bwg", "连云港市博物馆", "venue", "culture", "city", "海州区朝阳东路"),
            ("dh-zfb", "东海县人民政府办公室", "government", "", "county", "东海县牛山街道"),
        ],
    ),
    (
        "320800",
        "淮安",
        "ha",
        [
            ("sthjj", "淮安市生态环境局", "government", "", "city", "清江浦区健康东路"),
            ("rmyy1", "淮安市第一人民医院", "hospital", "grade3", "city", "淮安区北京西路1号"),
            ("hyzx", "江苏省淮阴中学", "school", "secondary", "city", "清江浦区北京西路"),
            ("hygxy", "淮阴工学院", "school", "university", "province", "淮安经济技术开发区枚乘东路1号"),
            ("tyzx", "淮安市体育中心", "venue", "sports", "city", "清江浦区翔宇大道"),
            ("ls-rmyy", "涟水县人民医院", "hospital", "grade2", "county", "涟水县安东北路"),
            ("gjj", "淮安市住房公积金管理中心", "other", "", "city", "清江浦区翔宇大道"),
        ],
    ),
    (
        "320900",
        "盐城",
        "yc",
        [
            ("fgw", "盐城市发展和改革委员会", "government", "", "city", "亭湖区世纪大道"),
            ("rmyy1", "盐城市第一人民医院", "hospital", "grade3", "city", "亭湖区毓龙西路166号"),
            ("yczx", "江苏省盐城中学", "school", "secondary", "city", "亭湖区毓龙西路"),
            ("ycsy", "盐城师范学院", "school", "university", "province", "亭湖区希望大道2号"),
            ("tsg", "盐城市图书馆", "venue", "culture", "city", "城南新区范公路"),
            ("dt-jyj", "东台市教育局", "government", "", "county", "东台市望海东路"),
            ("df-cmz", "盐城市大丰区草庙镇人民政府", "government", "", "township", "大丰区草庙镇"),
        ],
    ),
    (
        "321000",
        "扬州",
        "yz",
        [
            ("jgswj", "扬州市机关事务管理局", "government", "", "city", "邗江区文昌西路"),
            ("sbrmyy", "苏北人民医院", "hospital", "grade3", "city", "邗江区南通西路98号"),
            ("yzzx", "江苏省扬州中学", "school", "secondary", "city", "广陵区淮海路"),
            ("zydx", "扬州市职业大学", "school", "vocational", "city", "邗江区华扬西路199号"),
            ("tygy", "扬州体育公园", "venue", "sports", "city", "邗江区体育路"),
            ("gy-wjw", "高邮市卫生健康委员会", "government", "", "county", "高邮市府前街"),
            ("ggzy", "扬州市公共资源交易中心", "other", "", "city", "邗江区江阳中路"),
        ],
    ),
    (
        "321100",
        "镇江",
        "zj",
        [
            ("czj", "镇江市财政局", "government", "", "city", "润州区南徐大道68号"),
            ("jsdx-fy", "江苏大学附属医院", "hospital", "grade3", "province", "京口区解放路438号"),
            ("syxx", "镇江市实验小学", "school", "primary", "city", "润州区中山西路"),
            ("jsdx", "江苏大学", "school", "university", "province", "京口区学府路301号"),
            ("bwg", "镇江博物馆", "venue", "culture", "city", "润州区伯先路85号"),
            ("dy-rmyy", "丹阳市人民医院", "hospital", "grade2", "county", "丹阳市新民西路"),
        ],
    ),
    (
        "321200",
        "泰州",
        "tz",
        [
            ("fgw", "泰州市发展和改革委员会", "government", "", "city", "海陵区东进东路"),
            ("rmyy", "泰州市人民医院", "hospital", "grade3", "city", "海陵区泰州路"),
            ("tzzx", "江苏省泰州中学", "school", "secondary", "city", "海陵区迎春西路"),
            ("zyjs", "泰州职业技术学院", "school", "vocational", "city", "医药高新区泰州路"),
            ("tyzx", "泰州市体育中心", "venue", "sports", "city", "海陵区凤凰东路"),
            ("xh-zfb", "兴化市人民政府办公室", "government", "", "county", "兴化市英武中路"),
        ],
    ),
    (
        "321300",
        "宿迁",
        "sq",
        [
            ("jgswj", "宿迁市机关事务管理局", "government", "", "city", "宿城区发展大道"),
            ("rmyy1", "宿迁市第一人民医院", "hospital", "grade3", "city", "宿城区黄河南路"),
            ("sqzx", "江苏省宿迁中学", "school", "secondary", "city", "宿城区青海湖路"),
            ("sqxy", "宿迁学院", "school", "university", "city", "宿城区黄河南路399号"),
            ("hzzx", "宿迁市会展中心", "venue", "exhibition", "city", "宿豫区洪泽湖东路"),
            ("sy-zyy", "沭阳县中医院", "hospital", "grade2", "county", "沭阳县人民路"),
            ("jgyey", "宿迁市机关第一幼儿园", "school", "kindergarten", "city", "宿城区幸福中路"),
        ],
    ),
]

# (area range m², m² per person range) by kind; schools count staff and students.
SIZES = {
    ("government", "province"): ((20_000, 40_000), (22, 32)),
    ("government", "city"): ((10_000, 30_000), (22, 32)),
    ("government", "county"): ((6_000, 15_000), (22, 32)),
    ("government", "township"): ((5_000, 7_000), (25, 35)),
    ("other", ""): ((5_000, 18_000), (25, 35)),
    ("hospital", "grade3"): ((80_000, 200_000), (45, 65)),
    ("hospital", "grade2"): ((30_000, 70_000), (45, 65)),
    ("school", "university"): ((150_000, 300_000), (25, 35)),
    ("school", "vocational"): ((80_000, 200_000), (20, 30)),
    ("school", "secondary"): ((30_000, 80_000), (15, 22)),
    ("school", "primary"): ((12_000, 30_000), (8, 12)),
    ("school", "kindergarten"): ((10_000, 13_000), (15, 20)),
    ("venue", "sports"): ((40_000, 120_000), (300, 500)),
    ("venue", "culture"): ((15_000, 60_000), (150, 250)),
    ("venue", "exhibition"): ((60_000, 150_000), (300, 500)),
}
# Peak electric demand in W per m² of floor area, by category (for max_rate_per_h).
PEAK_W_PER_M2 = {"government": 40, "other": 40, "hospital": 60, "school": 30, "venue": 50}
CANTEEN_OFFICES = {"js-jgswglj", "nj-fgw", "wx-jgswj", "xz-fgw", "sz-jgswj", "yz-jgswj", "tz-fgw"}
VEHICLE_OFFICES = {"js-jgswglj", "nj-fgw", "xz-fgw", "cz-czj", "lyg-jgswj", "yc-fgw", "sq-jgswj"}
INSTALLED = datetime(2019, 1, 1, tzinfo=TZ)


def _round2(x: float) -> float:
    """Two significant figures, as a rating on a nameplate would be."""
    from math import floor, log10

    p = 10 ** (floor(log10(x)) - 1)
    return float(round(x / p) * p)


def build(seed: int = 2026) -> tuple[list[dict], list[dict], list[dict]]:
    rng = random.Random(seed)
    institutions: list[dict] = []
    years: list[dict] = []
    meters: list[dict] = []
    for region, city, prefix, items in PROVINCE:
        for slug, name, category, sub_kind, level, street in items:
            iid = f"{prefix}-{slug}"
            institutions.append(
                {
                    "id": iid,
                    "name": name,
                    "category": category,
                    "sub_kind": sub_kind or None,
                    "admin_level": level,
                    "region_code": region,
                    "climate_zone": "cold" if region in NORTH else "hot_summer_cold_winter",
                    "baseline_year": BASELINE_YEAR,
                    "address": f"江苏省{city}市{street}",
                }
            )
            size_key = (category, sub_kind or level) if category in ("government",) else (category, sub_kind)
            (a_lo, a_hi), (p_lo, p_hi) = SIZES[size_key]
            area = round(rng.uniform(a_lo, a_hi), -2)
            people = max(20, round(area / rng.uniform(p_lo, p_hi)))
            extension = rng.random() < 0.15  # a new building between the baseline and 2024
            for y in YEARS:
                if y == 2024 and extension:
                    area = round(area * rng.uniform(1.1, 1.3), -2)
                if y > BASELINE_YEAR:
                    people = max(20, round(people * rng.uniform(0.97, 1.04)))
                # schools' 用能人数 here include their students (the registry says so, per year)
                years.append(
                    {
                        "institution_id": iid,
                        "year": y,
                        "floor_area_m2": area,
                        "occupants": people,
                        "students_counted": "yes" if category == "school" else None,
                    }
                )
            meters += _meters(rng, iid, category, sub_kind, area, people)
    # 2023 (the year before the two-year annual check of 2025) as 2024's registry row, drawn from nothing, so
    # the other rows and files do not change with it
    for row in [y for y in years if y["year"] == 2024]:
        years.append({**row, "year": 2023})
    return institutions, years, meters


def _meter(mid: str, iid: str, name: str, energy: str, unit: str, end_use: str, **kw) -> dict:
    row = {c: None for c in METERS.column_names}
    row.update(
        id=mid,
        institution_id=iid,
        name=name,
        energy_type=energy,
        unit=unit,
        register="cumulative",
        end_use=end_use,
        multiplier=1.0,
        installed_at=INSTALLED,
    )
    row.update(kw)
    return row


def _meters(
    rng: random.Random, iid: str, category: str, sub_kind: str, area: float, people: int
) -> list[dict]:
    peak_kwh_per_h = area * PEAK_W_PER_M2[category] / 1000
    # Large buildings are metered through current transformers (CT ratio = multiplier).
    ct = 80.0 if peak_kwh_per_h > 3000 else 40.0 if peak_kwh_per_h > 800 else 1.0
    main = f"{iid}.e-main"
    out = [
        _meter(
            main,
            iid,
            "总电表",
            "electricity",
            "kWh",
            "main",
            multiplier=ct,
            rollover=999999.99 if ct > 1 else 99999999.9,
            max_rate_per_h=_round2(3 * peak_kwh_per_h),
        )
    ]
    water_peak = people * (0.03 if category == "hospital" else 0.015) + area * 0.0005
    if iid == "cz-syxx":
        # The old water meter was replaced in spring 2024: one retired meter, one installed later.
        out.append(
            _meter(
                f"{iid}.water-old",
                iid,
                "总水表(旧)",
                "water",
                "m3",
                "main",
                rollover=99999.0,
                max_rate_per_h=_round2(3 * water_peak),
                retired_at=datetime(2024, 4, 1, 9, 0, tzinfo=TZ),
            )
        )
        out.append(
            _meter(
                f"{iid}.water",
                iid,
                "总水表",
                "water",
                "m3",
                "main",
                rollover=999999.0,
                max_rate_per_h=_round2(3 * water_peak),
                installed_at=datetime(2024, 4, 1, 9, 0, tzinfo=TZ),
            )
        )
    else:
        out.append(
            _meter(
                f"{iid}.water",
                iid,
                "总水表",
                "water",
                "m3",
                "main",
                rollover=99999.0 if water_peak < 20 else 999999.0,
                max_rate_per_h=_round2(3 * water_peak),
            )
        )
    gas = (
        category == "hospital"
        or sub_kind in ("university", "vocational", "secondary", "kindergarten")
        or (iid in CANTEEN_OFFICES)
    )
    if gas:
        # Hospitals burn ~10 m³/m² a year (boilers: sterilisation, hot water; peak ~3x the mean hour);
        # canteens ~1.5 m³/m² a year, concentrated around meals (peak ~5x).
        if category == "hospital":
            gas_peak = area * 10 / 8760 * 3
        else:
            gas_peak = area * 1.5 / 8760 * 5
        out.append(
            _meter(
                f"{iid}.gas",
                iid,
                "天然气总表",
                "natural_gas",
                "m3",
                "main",
                max_rate_per_h=_round2(3 * gas_peak),
            )
        )
    # 分项计量 in the larger buildings: HVAC and lighting/sockets under the main meter.
    if area >= 20_000 and len(out) <= 3:
        late = iid in ("nt-rmyy1", "ha-hygxy")  # sub-metering retrofitted later
        installed = datetime(2023, 6, 15, 10, 0, tzinfo=TZ) if late else INSTALLED
        sub_ct = 20.0 if ct > 1 else 1.0
        out.append(
            _meter(
                f"{iid}.e-hvac",
                iid,
                "空调用电",
                "electricity",
                "kWh",
                "hvac",
                parent_meter_id=main,
                multiplier=sub_ct,
                max_rate_per_h=_round2(1.5 * peak_kwh_per_h),
                installed_at=installed,
            )
        )
        out.append(
            _meter(
                f"{iid}.e-light",
                iid,
                "照明插座用电",
                "electricity",
                "kWh",
                "lighting_sockets",
                parent_meter_id=main,
                multiplier=sub_ct,
                max_rate_per_h=_round2(peak_kwh_per_h),
                installed_at=installed,
            )
        )
    if iid in VEHICLE_OFFICES and len(out) < 5:
        # Official cars: one message per fill-up, litres of gasoline.
        out.append(
            _meter(
                f"{iid}.fuel",
                iid,
                "公务用车加油",
                "gasoline",
                "L",
                "vehicle",
                register="interval",
                # No rate check: fill-ups of several cars can come minutes apart.
                max_rate_per_h=None,
            )
        )
    assert 2 <= len(out) <= 5, (iid, len(out))
    return out


# The simulator's defaults (jieneng simulate / jieneng demo): its seed and its shares of wasteful and
# efficient institutions decide each institution's place in its category's intensity range.
SIM_SEED = 2026
SIM_WASTEFUL_SHARE = 0.15
SIM_EFFICIENT_SHARE = 0.15
# 2023 too: scoring 2025 checks the annual targets of its last two years, 2025 against 2024 and 2024 against 2023
REPORTED_YEARS = (BASELINE_YEAR, 2023, 2024)
WORSE_SHARE = 0.07  # institutions whose use per m² / per person grew since the baseline


def reported_usage(
    institutions: list[dict], years: list[dict], meters: list[dict], seed: int = 2026
) -> list[dict]:
    """Statistics-return figures for REPORTED_YEARS: the simulated 2025 intensity × that year's floor area
    (electricity, gas) or occupants (water, vehicle fuel) × a factor per institution and year."""
    size = {(y["institution_id"], y["year"]): (y["floor_area_m2"], y["occupants"]) for y in years}
    out: list[dict] = []
    for inst in institutions:
        iid, cat = inst["id"], inst["category"]
        # a generator of its own per institution, so the other files do not change with this one
        rng = random.Random(f"{seed}:reported:{iid}")
        level = profiles.character(SIM_SEED, iid, SIM_WASTEFUL_SHARE, SIM_EFFICIENT_SHARE).level
        kinds = {
            (m["energy_type"], m["end_use"])
            for m in meters
            if m["institution_id"] == iid and not m["parent_meter_id"]
        }
        intensity = {  # per m² or per person in 2025, and which of the two drives it
            ("electricity", "main"): (profiles.in_range(profiles.ELECTRICITY_KWH_M2[cat], level), 0, "kWh"),
            ("water", "main"): (profiles.in_range(profiles.WATER_M3_PERSON[cat], level), 1, "m3"),
            ("natural_gas", "main"): (profiles.in_range(profiles.GAS_M3_M2[cat], level), 0, "m3"),
            ("gasoline", "vehicle"): (profiles.in_range(profiles.VEHICLE_L_PERSON[cat], level), 1, "L"),
        }
        worse = rng.random() < WORSE_SHARE
        factors = {
            BASELINE_YEAR: rng.uniform(0.92, 0.98) if worse else rng.uniform(1.05, 1.15),
            2024: rng.uniform(1.01, 1.05),
        }
        # a generator of its own, so the 2020 and 2024 figures stay as they were before 2023 was added
        factors[2023] = random.Random(f"{seed}:reported2023:{iid}").uniform(1.03, 1.08)
        for y in REPORTED_YEARS:
            for (et, end_use), (per, driver, unit) in intensity.items():
                if (et, end_use) not in kinds:
                    continue
                # each energy type varies a little around the institution's factor for the year
                jitter = rng.uniform(0.99, 1.01) if y != 2023 else 1.0
                q = per * size[(iid, y)][driver] * factors[y] * jitter
                out.append(
                    {
                        "institution_id": iid,
                        "year": y,
                        "energy_type": et,
                        "end_use": end_use,
                        "unit": unit,
                        "quantity": float(round(q)),
                        "source": f"{y}年度公共机构能源资源消费统计报表",
                    }
                )
    return out


def main() -> None:
    institutions, years, meters = build()
    reported = reported_usage(institutions, years, meters)
    reported.sort(key=lambda r: (r["institution_id"], r["year"], r["energy_type"], r["end_use"]))
    key = {"institutions": "id", "institution_years": None, "meters": "id"}
    institutions.sort(key=lambda r: r[key["institutions"]])
    years.sort(key=lambda r: (r["institution_id"], r["year"]))
    meters.sort(key=lambda r: r["id"])
    files = {
        "institutions.csv": write_csv(INSTITUTIONS, institutions, TZ),
        "institution_years.csv": write_csv(INSTITUTION_YEARS, years, TZ),
        "meters.csv": write_csv(METERS, meters, TZ),
        "reported_usage.csv": write_csv(REPORTED_USAGE, reported, TZ),
        "province.xlsx": write_xlsx(
            {
                "institutions": institutions,
                "institution_years": years,
                "meters": meters,
                "reported_usage": reported,
            },
            TZ,
        ),
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
    cities = {r["region_code"] for r in institutions}
    print(
        f"{len(institutions)} institutions in {len(cities)} cities, {len(years)} institution years, "
        f"{len(meters)} meters, {len(reported)} reported figures -> {OUT}"
    )


if __name__ == "__main__":
    main()
