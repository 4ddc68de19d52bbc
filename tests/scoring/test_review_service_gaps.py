"""A year's meter window is shortened only where another meter of the same supply takes over.

Seen (in the window rule): a main meter retired on 1 July with no successor was judged over January-June only,
covered it fully, and half a year of electricity passed as the whole year's; a meter retired in March and a
successor installed in July were each judged over their own months, and the four months between counted as read.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from scoring.loader import year_windows

TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)
JAN, DEC31 = datetime(2026, 1, 1, tzinfo=Z), datetime(2027, 1, 1, tzinfo=Z)


def meter(installed, retired=None, et="electricity"):
    return dict(installed=installed, retired=retired, interval=3600, et=et, end_use="main")


def window(mt, siblings):
    [(_mid, _y, a, b, _i, _inst)] = year_windows("m", mt, siblings, [2026], TZ)
    return a, b


def test_a_retired_meter_without_successor_is_judged_over_the_whole_year():
    old = meter(datetime(2019, 1, 1, tzinfo=Z), datetime(2026, 7, 1, tzinfo=Z))
    assert window(old, []) == (JAN, DEC31)


def test_a_gap_between_a_meter_and_its_successor_is_not_covered():
    old = meter(datetime(2019, 1, 1, tzinfo=Z), datetime(2026, 3, 1, tzinfo=Z))
    new = meter(datetime(2026, 7, 1, tzinfo=Z))
    # neither meter answers for March-June: each is judged from the year's start / to its end there
    assert window(new, [old]) == (JAN, DEC31)
    assert window(old, [new]) == (JAN, DEC31)


def test_a_swap_within_a_day_splits_the_year():
    old = meter(datetime(2019, 1, 1, tzinfo=Z), datetime(2026, 7, 1, 9, tzinfo=Z))
    new = meter(datetime(2026, 7, 1, 11, tzinfo=Z))
    assert window(old, [new]) == (JAN, datetime(2026, 7, 1, 9, tzinfo=Z))
    assert window(new, [old]) == (datetime(2026, 7, 1, 11, tzinfo=Z), DEC31)


def test_a_meter_installed_during_the_year_without_predecessor_is_judged_from_january():
    assert window(meter(datetime(2026, 12, 1, tzinfo=Z)), []) == (JAN, DEC31)


def test_a_fuel_meter_retired_without_successor_ends_its_supply():
    # a gas boiler removed in July: gas is not a supply every building has all year, so its use simply ended
    gas = meter(datetime(2019, 1, 1, tzinfo=Z), datetime(2026, 7, 1, tzinfo=Z), et="natural_gas")
    assert window(gas, []) == (JAN, datetime(2026, 7, 1, tzinfo=Z))


def test_an_overlapping_successor_splits_the_year():
    old = meter(datetime(2019, 1, 1, tzinfo=Z), datetime(2026, 7, 1, tzinfo=Z))
    new = meter(datetime(2026, 6, 1, tzinfo=Z))
    assert window(old, [new]) == (JAN, datetime(2026, 7, 1, tzinfo=Z))
    assert window(new, [old]) == (datetime(2026, 6, 1, tzinfo=Z), DEC31)
