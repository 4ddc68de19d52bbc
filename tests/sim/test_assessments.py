"""Simulated assessor entries: deterministic, within each item's maximum, ★ zeros at the set share."""

from __future__ import annotations

from sim.assessments import ItemSpec, simulated_assessments

ITEMS = [ItemSpec("mgmt", 5, star=True), ItemSpec("retrofit", 6), ItemSpec("bonus_x", 5, bonus=True)]
IDS = [f"i{n:03d}" for n in range(400)]


def test_deterministic_and_bounded():
    a = simulated_assessments(IDS, ITEMS, 2025, seed=7)
    assert a == simulated_assessments(list(reversed(IDS)), ITEMS, 2025, seed=7)
    assert a != simulated_assessments(IDS, ITEMS, 2025, seed=8)
    assert len(a) == len(IDS) * len(ITEMS)
    for e in a:
        spec = next(i for i in ITEMS if i.code == e.item_code)
        assert 0 <= e.points <= spec.max_points
        assert (e.points * 2) == int(e.points * 2)


def test_star_zero_share_and_bonus_rarity():
    a = simulated_assessments(IDS, ITEMS, 2025, seed=7, star_zero_share=0.05)
    star_zero = sum(1 for e in a if e.item_code == "mgmt" and e.points == 0)
    bonus_any = sum(1 for e in a if e.item_code == "bonus_x" and e.points > 0)
    normal = [e.points for e in a if e.item_code == "retrofit"]
    assert 5 <= star_zero <= 40  # 5 % of 400 = 20 expected
    assert 80 <= bonus_any <= 190  # a third of 400 ≈ 133 expected
    assert min(normal) >= 3.5  # 60 % of 6 = 3.6, rounded to the half point
