"""Conversion of metered quantities to standard coal (kgce) and carbon (kgCO₂).

GB/T 2589-2020 综合能耗计算通则: comprehensive energy consumption is the sum of each energy's quantity times
its 折标准煤系数, all on one basis (当量值 or 等价值; the methodology loader refuses a mix). Vehicle fuel is
metered in litres while GB/T 2589 gives coefficients per kg, so the methodology's density (kg/L) converts it.
Carbon factors are methodology data too, each with its source.
"""

from __future__ import annotations

from scoring.methodology import Coefficient, Methodology
from scoring.model import InstitutionResult, ResultInputs
from store import codes


def _through_density(unit: str, coef: Coefficient) -> float | None:
    """Coefficient units per one ``unit`` of a fuel metered by volume whose coefficient is per mass (kg, t):
    litres through the methodology's density (kg/L), then kilograms to the coefficient's unit by the exact SI
    relation; None when the units are not volume and mass or there is no density."""
    if (
        coef.density_kg_per_l is None
        or codes.UNITS[unit].dimension != "volume"
        or codes.UNITS[coef.unit].dimension != "mass"
    ):
        return None
    return (
        codes.conversion_factor(unit, "L") * coef.density_kg_per_l * codes.conversion_factor("kg", coef.unit)
    )


def quantity_in_coef_unit(quantity: float, unit: str, coef: Coefficient) -> tuple[float, float | None]:
    """(quantity in the coefficient's unit, density used or None). The loader already converted every
    dimension-preserving unit (kWh, m3, kg …); only litres of a fuel whose coefficient is per mass (kg or t)
    remain, converted through the density."""
    if unit == coef.unit:
        return quantity, None
    factor = _through_density(unit, coef)
    if factor is not None:
        return quantity * factor, coef.density_kg_per_l
    raise ValueError(f"cannot convert {unit} to the coefficient's unit {coef.unit}")


def energy_kgce(quantity_coef_unit: float, coef: Coefficient) -> float:
    """GB/T 2589-2020 §4: energy in kgce = quantity × 折标准煤系数 (kgce per unit)."""
    return quantity_coef_unit * coef.kgce_per_unit


def carbon_kgco2(quantity_coef_unit: float, coef: Coefficient) -> float:
    """Emissions in kgCO₂ = quantity × emission factor (methodology data with its source)."""
    return quantity_coef_unit * coef.kgco2_per_unit


def kgce_per_metered_unit(m: Methodology) -> dict[tuple[str, str], float]:
    """kgce per unit of metered quantity for every (energy type, unit) a meter may be registered in.

    The methodology's coefficient in its own unit; every other unit of the same dimension by an exact SI
    relation (1 MWh = 1000 kWh, 1 GJ = 1000 MJ, 1 t = 1000 kg); litres of a fuel whose coefficient is per mass
    (kg or t) through the methodology's density. A unit reachable by neither (LPG in m³) has no factor.

    Parameters
    ----------
    m : Methodology
        The methodology whose [coefficients] apply (kgce per unit, 当量值 or 等价值 as it states).

    Returns
    -------
    dict of (str, str) to float
        (energy type, unit code) → kgce per one of that unit, sorted by key.

    References
    ----------
    GB/T 2589-2020 综合能耗计算通则, §4 and annex A (折标准煤系数); unit codes and allowed units from
    store.codes (ENERGY_UNITS, UNITS).
    """
    out: dict[tuple[str, str], float] = {}
    for energy_type, coef in m.spec.coefficients.items():
        for unit, factor in coef_units_per_metered_unit(energy_type, coef).items():
            out[(energy_type, unit)] = coef.kgce_per_unit * factor
    return dict(sorted(out.items()))


def coef_units_per_metered_unit(energy_type: str, coef: Coefficient) -> dict[str, float]:
    """Coefficient units per one of each unit a meter of ``energy_type`` may be registered in (store.codes
    ENERGY_UNITS) that converts to the coefficient's unit: the same dimension by an exact SI relation, litres of
    a fuel whose coefficient is per mass through the density. Empty: no meter of the type could be scored with
    the coefficient (the methodology loader refuses it)."""
    out: dict[str, float] = {}
    dim = codes.UNITS[coef.unit].dimension
    for unit in codes.ENERGY_UNITS.get(energy_type, ()):
        if codes.UNITS[unit].dimension == dim:
            out[unit] = codes.conversion_factor(unit, coef.unit)
        elif (factor := _through_density(unit, coef)) is not None:
            out[unit] = factor
    return out


def kgce_factors(result: InstitutionResult | ResultInputs) -> dict[tuple[str, bool, str], float]:
    """kgce per unit of metered quantity, per (energy type, official vehicle, unit), from a stored result's own
    conversion lines (its previous and scored years), so figures derived from that result (a report's
    monthly energy) use the coefficients, densities and unit the run scored with.

    Parameters
    ----------
    result : InstitutionResult or ResultInputs
        One institution's stored scoring result (or its inputs).

    Returns
    -------
    dict of (str, bool, str) to float
        (energy type, vehicle fuel, the line's `unit`) → kgce per one of that unit; the scored year's line wins
        over the previous year's. Lines with no positive quantity in either year are absent. A fuel metered in
        two units the loader cannot convert into each other (litres and kilograms) has a line for each.

    References
    ----------
    GB/T 2589-2020 综合能耗计算通则, §4: energy in kgce = quantity × 折标准煤系数.
    """
    factors: dict[tuple[str, bool, str], float] = {}
    for year_inputs in (result.inputs.previous, result.inputs.current):
        if year_inputs is None:
            continue
        for line in year_inputs.energy:
            if line.quantity > 0:
                factors[(line.energy_type, line.vehicle, line.unit)] = line.energy_kgce / line.quantity
    return factors


def kgce_per_meter_unit(
    factors: dict[tuple[str, bool, str], float], energy_type: str, vehicle: bool, unit: str
) -> float | None:
    """kgce per one ``unit`` of a meter's use, from :func:`kgce_factors`: the factor of the line in that unit,
    else of the line the loader converted that unit into (the one of the same dimension, by an exact SI
    relation: 1 MWh = 1000 kWh); None when the result has no such line.

    References
    ----------
    Unit codes and SI relations from store.codes (UNITS, conversion_factor).
    """
    if (energy_type, vehicle, unit) in factors:
        return factors[(energy_type, vehicle, unit)]
    for (et, v, line_unit), f in factors.items():
        if (et, v) != (energy_type, vehicle):
            continue
        try:
            return f * codes.conversion_factor(unit, line_unit)
        except codes.UnitError:
            continue
    return None
