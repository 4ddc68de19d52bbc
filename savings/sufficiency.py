"""CalTRACK data-sufficiency rules for a baseline period and a reporting period (pure)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Container

from savings.methodology import Sufficiency


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def baseline_problems(
    first: dt.date,
    last: dt.date,
    usable: Container[dt.date],
    rules: Sufficiency,
    *,
    install_from: dt.date | None = None,
) -> list[str]:
    """Why a baseline period cannot support a model; empty when it can.

    Parameters
    ----------
    first, last : datetime.date
        The named baseline period, both days included.
    usable : container of datetime.date
        Days with both a complete metered use and a mean temperature.
    rules : Sufficiency
        savings/methodology.toml [sufficiency].
    install_from : datetime.date, optional
        First day of the installation: the baseline must end the day before it.

    Returns
    -------
    list of str
        One sentence per rule broken: span, adjacency to the installation, overall coverage, coverage of
        each calendar month.

    References
    ----------
    CalTRACK Methods 2.0, data sufficiency (a 365-day baseline, at least 90 % of days with data).
    """
    problems: list[str] = []
    days = days_between(first, last)
    span = len(days)
    if span < rules.baseline_min_days:
        problems.append(
            f"baseline period {first}..{last} spans {span} days; the method needs {rules.baseline_min_days}"
        )
    elif span > rules.baseline_max_days:
        problems.append(
            f"baseline period {first}..{last} spans {span} days; the method allows at most {rules.baseline_max_days} "
            "(the days immediately before installation)"
        )
    elif span > rules.baseline_min_days and not any(d.month == 2 and d.day == 29 for d in days):
        # The extra day is for a 29 February only: a year and a day of a common year is not a year.
        problems.append(
            f"baseline period {first}..{last} spans {span} days without a 29 February; "
            f"the method allows {rules.baseline_min_days}"
        )
    if install_from is not None and (install_from - last).days > 1:
        # A baseline a year or more before the work would credit the retrofit with every other change since.
        problems.append(
            f"baseline period ends {last} but installation starts {install_from}: the method's baseline is "
            f"the {rules.baseline_min_days} days immediately before the intervention "
            f"({(install_from - last).days - 1} days in between)"
        )
    have = [d for d in days if d in usable]
    share = len(have) / span if span else 0.0
    if share < rules.min_coverage:
        problems.append(
            f"baseline has use and temperature on {len(have)} of {span} days ({share:.0%}); "
            f"the method needs {rules.min_coverage:.0%}"
        )
    total = Counter((d.year, d.month) for d in days)
    got = Counter((d.year, d.month) for d in have)
    for (y, m), n in sorted(total.items()):
        s = got[(y, m)] / n
        if s < rules.min_monthly_coverage:
            problems.append(
                f"baseline month {y}-{m:02d} has use and temperature on {got[(y, m)]} of {n} days ({s:.0%}); "
                f"the method needs {rules.min_monthly_coverage:.0%} in every month"
            )
    return problems


def reporting_problems(
    first: dt.date, last: dt.date, usable: Container[dt.date], rules: Sufficiency
) -> list[str]:
    """Why a reporting period cannot give a measured savings figure; empty when it can."""
    days = days_between(first, last)
    have = sum(1 for d in days if d in usable)
    share = have / len(days) if days else 0.0
    if share < rules.reporting_min_coverage:
        return [
            f"reporting period {first}..{last} has use and temperature on {have} of {len(days)} days "
            f"({share:.0%}); the method needs {rules.reporting_min_coverage:.0%}"
        ]
    return []


def usable_use(
    use: dict[dt.date, float], energy_type: str
) -> tuple[dict[dt.date, float], dict[dt.date, float]]:
    """Daily use split into the days a model may use and the days treated as missing.

    Parameters
    ----------
    use : dict of datetime.date to float
        Metered use per complete day [unit/day].
    energy_type : str
        A negative day is missing for every energy type; a zero day is missing for electricity only (a
        building on the grid always draws something, so zero is a stuck or disconnected meter), while zero
        gas, heat or water on a summer or holiday day is real.

    Returns
    -------
    (usable, missing) : tuple of dict
        Both keyed by day, with the metered value.

    References
    ----------
    CalTRACK Methods 2.0, data preparation: negative values and zero electricity values are treated as
    missing data (eemeter ``caltrack_sufficiency_criteria``, ``is_electricity_data``).
    """
    usable: dict[dt.date, float] = {}
    missing: dict[dt.date, float] = {}
    for d, v in use.items():
        bad = v < 0 or (v == 0 and energy_type == "electricity")
        (missing if bad else usable)[d] = v
    return usable, missing
