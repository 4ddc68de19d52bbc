"""Conversion of metered quantities to standard coal (kgce) and carbon (kgCO₂).

GB/T 2589-2020 综合能耗计算通则: comprehensive energy consumption is the sum of each energy's quantity times
its 折标准煤系数, all on one basis (当量值 or 等价值; the methodology loader refuses a mix). Vehicle fuel is
metered in litres while GB/T 2589 gives coefficients per kg, so the methodology's density (kg/L) converts it.
Carbon factors are methodology data too, each with its source.
"""

from __future__ import annotations

from scoring.methodology import Coefficient


def quantity_in_coef_unit(quantity: float, unit: str, coef: Coefficient) -> tuple[float, float | None]:
    """(quantity in the coefficient's unit, density used or None). The loader already converted every
    dimension-preserving unit (kWh, m3, kg …); only litres of a fuel whose coefficient is per kg remain."""
    if unit == coef.unit:
        return quantity, None
    if unit == "L" and coef.unit == "kg" and coef.density_kg_per_l is not None:
        return quantity * coef.density_kg_per_l, coef.density_kg_per_l
    raise ValueError(f"cannot convert {unit} to the coefficient's unit {coef.unit}")


def energy_kgce(quantity_coef_unit: float, coef: Coefficient) -> float:
    """GB/T 2589-2020 §4: energy in kgce = quantity × 折标准煤系数 (kgce per unit)."""
    return quantity_coef_unit * coef.kgce_per_unit


def carbon_kgco2(quantity_coef_unit: float, coef: Coefficient) -> float:
    """Emissions in kgCO₂ = quantity × emission factor (methodology data with its source)."""
    return quantity_coef_unit * coef.kgco2_per_unit
