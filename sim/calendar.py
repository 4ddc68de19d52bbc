"""The holiday calendar lives in store.calendar (savings verification uses it too); kept here for sim's imports."""

from store.calendar import (  # noqa: F401
    _HOLIDAYS,
    SPRING_FESTIVAL,
    YEARS,
    day_flags,
    holiday_name,
    in_school_term,
    is_workday,
)
