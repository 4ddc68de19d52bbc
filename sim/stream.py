"""From consumption to MQTT messages: registers, faults, topics and payloads (no network here).

`Simulator` walks the 15-minute grid forward. Cumulative counters start on 2024-01-01 (local) or at the
meter's installation, whichever is later, so the counter at any instant is a pure function of the seed and
the registry: `start_at` replays the history before the first published reading without publishing it.
Messages come out in the order a gateway would send them: regular readings in time order, then repeats,
then any backlog whose outage has ended (shuffled, in batches), then malformed messages.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sim import rand
from sim.faults import MALFORMED_KINDS, STEPS_PER_DAY, DayDraws, FaultEvent, FaultRates
from sim.meters import STEP_S, InstitutionModel, TimeGrid, is_vehicle, step_of, time_grid, unit_factor
from sim.registry import InstitutionSpec, MeterSpec
from sim.retrofit import Retrofit

EPOCH_LOCAL = dt.datetime(2024, 1, 1)  # counters start here (or at installation); earlier starts are refused
WARMUP_CHUNK_STEPS = 92 * STEPS_PER_DAY
UNKNOWN_METER_ID = "sim-unknown-meter"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes


def align_down(when: dt.datetime, interval_s: int, tz: str) -> dt.datetime:
    """``when`` floored to a multiple of ``interval_s`` after local midnight."""
    local = when.astimezone(ZoneInfo(tz))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    secs = int((local - midnight).total_seconds()) // interval_s * interval_s
    return midnight + dt.timedelta(seconds=secs)


def _ceil_step(ts: dt.datetime) -> int:
    return -(-int(ts.timestamp()) // STEP_S)


class Simulator:
    """Deterministic readings and messages for a set of institutions; see the module docstring."""

    def __init__(
        self,
        institutions: list[InstitutionSpec],
        *,
        seed: int,
        tz: str = "Asia/Shanghai",
        prefix: str = "jieneng/v1",
        interval_s: int = 900,
        rates: FaultRates | None = None,
        wasteful_share: float = 0.15,
        efficient_share: float = 0.15,
        batch_max_items: int = 2000,
        backlog_batch_items: int = 200,
        retrofits: tuple[Retrofit, ...] = (),
    ):
        if interval_s % STEP_S or 86400 % interval_s:
            raise ValueError(
                f"interval must be a multiple of {STEP_S} s that divides a day, got {interval_s}"
            )
        if not 0 <= wasteful_share + efficient_share <= 1:
            raise ValueError("wasteful_share + efficient_share must be within [0, 1]")
        self.seed = seed
        self.tz = tz
        self.prefix = prefix.rstrip("/")
        self.interval_s = interval_s
        self.I = interval_s // STEP_S
        self.rates = rates or FaultRates()
        self.batch_max_items = batch_max_items
        self.backlog_batch_items = backlog_batch_items
        self.models = [
            InstitutionModel(s, seed, tz, wasteful_share, efficient_share, tuple(retrofits))
            for s in institutions
        ]
        self.epoch_k = step_of(EPOCH_LOCAL.replace(tzinfo=ZoneInfo(tz)))
        self.counter: dict[str, float] = {}
        self.k: int | None = None
        self.events: list[FaultEvent] = []
        self.stats: Counter[str] = Counter()
        self._pending: dict[tuple[str, int], tuple[int, list[str]]] = {}

    # -- positioning ---------------------------------------------------------------------------------------
    def _origin_k(self, m: MeterSpec) -> int:
        k = self.epoch_k
        if m.installed_at is not None:
            k = max(k, _ceil_step(m.installed_at))
        return k

    def _initial_counter(self, m: MeterSpec) -> float:
        u = rand.scalar_uniform(rand.key(self.seed, "initial", m.id))
        return (0.2 + 0.8 * u) * 1e5 * unit_factor(m.energy_type, m.unit) / m.multiplier

    def _jump_size(self, m: MeterSpec) -> float:
        if m.max_rate_per_h:
            return 50.0 * m.max_rate_per_h * (self.interval_s / 3600.0) / m.multiplier
        return 1e6 * unit_factor(m.energy_type, m.unit) / m.multiplier

    def start_at(self, when: dt.datetime) -> None:
        """Position the simulator so the next reading published is the first one after ``when``.
        ``when`` must be on the reading grid (see `align_down`) and not before 2024-01-01 local."""
        if when.tzinfo is None:
            raise ValueError("start time must be timezone-aware")
        if align_down(when, self.interval_s, self.tz) != when:
            raise ValueError(f"start {when.isoformat()} is not on the {self.interval_s} s reading grid")
        k = step_of(when)
        if k < self.epoch_k:
            raise ValueError(
                f"simulated history starts at {EPOCH_LOCAL.date()} (local); got {when.isoformat()}"
            )
        self.counter = {m.id: self._initial_counter(m) for model in self.models for m in model.meters()}
        self._pending.clear()
        self.k = self.epoch_k
        while self.k < k:
            self._chunk(self.k, min(k, self.k + WARMUP_CHUNK_STEPS), emit=False, mode="batch")

    def advance(self, until: dt.datetime, mode: str = "batch", chunk_days: int = 1) -> list[Message]:
        """Messages for readings in (current position, ``until``]; ``until`` on the reading grid.
        mode "batch": gateway batches on ``{prefix}/{institution}/_batch``; "meter": one message per meter.
        Work proceeds in chunks of up to ``chunk_days`` local days (bigger is faster; readings are the same,
        backlogs are released at the end of their chunk)."""
        if self.k is None:
            raise RuntimeError("call start_at() first")
        k_end = step_of(until)
        if align_down(until, self.interval_s, self.tz) != until:
            raise ValueError(f"{until.isoformat()} is not on the {self.interval_s} s reading grid")
        out: list[Message] = []
        while self.k < k_end:
            # whole local days at most, so a backlog released at the end of its day is still "late"
            here = dt.datetime.fromtimestamp(self.k * STEP_S, dt.UTC)
            day_end = step_of(align_down(here, 86400, self.tz) + dt.timedelta(days=chunk_days))
            out += self._chunk(self.k, min(k_end, day_end), emit=True, mode=mode)
        return out

    def flush(self) -> list[Message]:
        """Release every withheld backlog now (end of a backfill)."""
        return self._release(None)

    # -- one chunk -----------------------------------------------------------------------------------------
    def _chunk(self, k0: int, k1: int, *, emit: bool, mode: str) -> list[Message]:
        g = time_grid(k0, k1, self.tz)
        ridx = np.nonzero((g.step_of_day + 1) % self.I == 0)[0]
        if len(ridx) and ridx[0] + 1 < self.I:
            raise ValueError("chunk does not start on the reading grid")
        ts_str: list[str] = []
        if emit and len(ridx):
            stamps = pd.to_datetime((g.k[ridx] + 1) * STEP_S, unit="s", utc=True).tz_convert(
                ZoneInfo(self.tz)
            )
            ts_str = [t.isoformat() for t in stamps]
        days, inverse = np.unique(g.ordinal, return_inverse=True)
        out: list[Message] = []
        for model in self.models:
            out += self._institution(model, g, ridx, ts_str, emit, mode, (days, inverse))
        self.k = k1
        if emit:
            out += self._release(k1)
        return out

    def _institution(
        self,
        model: InstitutionModel,
        g: TimeGrid,
        ridx: np.ndarray,
        ts_str: list[str],
        emit: bool,
        mode: str,
        day_index: tuple[np.ndarray, np.ndarray],
    ) -> list[Message]:
        iid = model.spec.id
        seed, r = self.seed, self.rates
        cons = model.consumption(g)
        n_read = len(ridx)
        rk = g.k[ridx] + 1  # reading timestamps as step numbers
        days, inverse = day_index
        if emit:
            inst_draws = DayDraws(seed, iid, days, inverse, g.step_of_day)
            backlog_in, b_end = inst_draws.window(r.backlog, 0, 8, 48)
            backlog_r = backlog_in[ridx]
        regular: list[list[str]] = [[] for _ in range(n_read)] if emit and mode == "batch" else []
        per_meter: list[tuple[MeterSpec, list[str]]] = []
        repeats: list[tuple[MeterSpec, str]] = []
        withheld: dict[int, list[str]] = {}

        for m in model.meters():
            origin = self._origin_k(m)
            active = g.k >= origin
            c = np.where(active, cons[m.id], 0.0)
            restart = jump = None
            draws = DayDraws(seed, m.id, days, inverse, g.step_of_day)
            if m.register == "cumulative":
                restart_reset = draws.pick(r.reset, 0) & active
                restart_repl = draws.pick(r.replacement, 2) & active
                jump = draws.pick(r.jump, 5) & active
                restart = restart_reset | restart_repl
                inc = c + jump * self._jump_size(m)
                cs = np.cumsum(inc)
                idx = np.arange(len(inc))
                last = np.maximum.accumulate(np.where(restart, idx, -1))
                safe = np.maximum(last, 0)
                vals = np.where(last >= 0, cs - (cs[safe] - inc[safe]), self.counter[m.id] + cs)
                if len(vals):
                    self.counter[m.id] = float(vals[-1])
                if not emit:
                    continue
                values = vals[ridx]
                if m.rollover:
                    values = np.mod(values, m.rollover)
            else:
                if not emit:
                    continue
                values = np.add.reduceat(c, ridx - self.I + 1) if n_read else np.zeros(0)

            show = active[ridx].copy()
            if m.retired_at is not None:
                show &= rk * STEP_S <= m.retired_at.timestamp()
            gap_hide = draws.window(r.gap, 7, self.I, 16 * self.I)[0][ridx]
            repl_hide = np.zeros(n_read, dtype=bool)
            if restart is not None:
                # the readings missing while the meter is swapped: 2–7 intervals before the new counter starts
                repl_hide = draws.window_before(r.replacement, 2, 2 * self.I, 7 * self.I)[ridx]
            hidden = show & (gap_hide | repl_hide)
            show &= ~(gap_hide | repl_hide)
            if is_vehicle(m) and m.register == "interval":
                show &= values > 0
            late = show & backlog_r
            if r.duplicate > 0 or r.conflict > 0:
                ur = rand.uniform(rand.key(seed, "repeat", m.id), rk[:, None] * 2 + np.arange(2))
                dup = (ur[:, 0] < r.duplicate) & show & ~late
                conflict = (ur[:, 1] < r.conflict) & show & ~late & ~dup
            else:
                dup = conflict = np.zeros(n_read, dtype=bool)
            fmt = "{:.3f}" if m.register == "cumulative" else "{:.4f}"
            vlist = values.tolist()
            shown = np.nonzero(show)[0].tolist()
            own: list[str] = []
            for j in shown:
                v = fmt.format(vlist[j])
                if late[j]:
                    withheld.setdefault(int(g.ordinal[ridx[j]]), []).append(
                        f'{{"meter":"{m.id}","ts":"{ts_str[j]}","value":{v}}}'
                    )
                elif mode == "batch":
                    regular[j].append(f'{{"meter":"{m.id}","ts":"{ts_str[j]}","value":{v}}}')
                else:
                    own.append(f'{{"ts":"{ts_str[j]}","value":{v}}}')
            if mode != "batch" and own:
                per_meter.append((m, own))
            self.stats["readings"] += len(shown)
            for j in np.nonzero(dup)[0].tolist():
                repeats.append((m, f'{{"ts":"{ts_str[j]}","value":{fmt.format(vlist[j])}}}'))
                self._event("duplicate", iid, m.id, ts_str[j])
            for j in np.nonzero(conflict)[0].tolist():
                other = fmt.format(vlist[j] * 1.05 + 0.5)
                repeats.append((m, f'{{"ts":"{ts_str[j]}","value":{other}}}'))
                self._event(
                    "conflict", iid, m.id, ts_str[j], detail=f"first {fmt.format(vlist[j])}, then {other}"
                )
            self._window_events("gap", iid, m.id, hidden & gap_hide, ts_str, g, ridx)
            self._window_events("replacement_gap", iid, m.id, hidden & repl_hide, ts_str, g, ridx)
            if restart is not None:
                for name, flags in (("reset", restart_reset), ("replacement", restart_repl), ("jump", jump)):
                    for i in np.nonzero(flags)[0].tolist():
                        j = int(np.searchsorted(ridx, i))
                        if j < n_read:
                            self._event(
                                name,
                                iid,
                                m.id,
                                ts_str[j],
                                detail=f"first reading after the {name}"
                                + ("" if show[j] else " (not sent: gap)"),
                            )

        if not emit:
            return []
        out: list[Message] = []
        batch_topic = f"{self.prefix}/{iid}/_batch"
        if mode == "batch":
            items = [s for row in regular for s in row]
            for a in range(0, len(items), self.batch_max_items):
                out.append(
                    Message(batch_topic, ("[" + ",".join(items[a : a + self.batch_max_items]) + "]").encode())
                )
        else:
            for m, own in per_meter:
                body = own[0] if len(own) == 1 else "[" + ",".join(own) + "]"
                out.append(Message(f"{self.prefix}/{iid}/{m.id}", body.encode()))
        for m, body in repeats:
            out.append(Message(f"{self.prefix}/{iid}/{m.id}", body.encode()))
        for ordinal, items in withheld.items():
            i = int(np.nonzero(g.ordinal == ordinal)[0][0])
            release = int(g.k[i] - g.step_of_day[i] + b_end[i])
            key = (iid, ordinal)
            prev = self._pending.get(key, (release, []))
            self._pending[key] = (release, prev[1] + items)
        target = min((m for m in model.meters() if not is_vehicle(m)), key=lambda m: m.id, default=None)
        out += self._malformed(model, g, ridx, ts_str, target or model.meters()[0], inst_draws)
        self.stats["messages"] += len(out)
        return out

    def _window_events(self, kind, iid, mid, mask, ts_str, g, ridx) -> None:
        # one event per reading not sent, so the record does not depend on how the run was chunked
        for j in np.nonzero(mask)[0].tolist():
            self._event(kind, iid, mid, ts_str[j], detail="not sent")

    def _malformed(self, model, g, ridx, ts_str, meter: MeterSpec, draws: DayDraws) -> list[Message]:
        iid = model.spec.id
        picks = np.nonzero(draws.pick(self.rates.malformed, 3))[0]
        kinds = draws.value(5)
        out = []
        for i in picks.tolist():
            j = int(np.searchsorted(ridx, i))
            if j >= len(ridx):
                continue
            ts = ts_str[j]
            kind = MALFORMED_KINDS[int(kinds[i] * len(MALFORMED_KINDS))]
            topic = f"{self.prefix}/{iid}/{meter.id}"
            if kind == "bad_json":
                body = f'{{"ts":"{ts}","value":'
            elif kind == "unknown_meter":
                topic = f"{self.prefix}/{iid}/{UNKNOWN_METER_ID}"
                body = f'{{"ts":"{ts}","value":1.0}}'
            elif kind == "bad_value_type":
                body = f'{{"ts":"{ts}","value":"n/a"}}'
            else:
                body = '{"ts":"not-a-time","value":1.0}'
            out.append(Message(topic, body.encode()))
            self._event(
                "malformed",
                iid,
                meter.id if kind != "unknown_meter" else UNKNOWN_METER_ID,
                ts,
                topic=topic,
                detail=kind,
            )
        return out

    def _release(self, k_done: int | None) -> list[Message]:
        out = []
        for key in sorted(self._pending):
            release, items = self._pending[key]
            if k_done is not None and release > k_done:
                continue
            del self._pending[key]
            iid, ordinal = key
            order = np.argsort(
                rand.uniform(rand.key(self.seed, "backlog-order", iid, ordinal), np.arange(len(items))),
                kind="stable",
            )
            shuffled = [items[i] for i in order.tolist()]
            topic = f"{self.prefix}/{iid}/_batch"
            for a in range(0, len(shuffled), self.backlog_batch_items):
                out.append(
                    Message(
                        topic, ("[" + ",".join(shuffled[a : a + self.backlog_batch_items]) + "]").encode()
                    )
                )
            day = dt.date.fromordinal(ordinal).isoformat()
            self._event(
                "backlog",
                iid,
                None,
                None,
                topic=topic,
                detail=f"{len(items)} reading(s) of {day} delivered late in {-(-len(items) // self.backlog_batch_items)} batch(es)",
            )
        self.stats["messages"] += len(out)
        return out

    def _event(self, kind, iid, mid, ts, topic=None, detail=None) -> None:
        self.events.append(FaultEvent(kind, iid, mid, ts, topic, detail))
        self.stats[f"fault_{kind}"] += 1
