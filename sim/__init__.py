"""Meter simulator: realistic institutions and readings over MQTT (issue 4).

Library entry points: `sim.run.backfill`, `sim.run.live`, `sim.run.make_simulator`; the pure generator is
`sim.stream.Simulator` (messages, no network) over `sim.meters.InstitutionModel` (consumption per meter).
"""
