-- No JIT compilation for Grafana's logins. Every dashboard query is a short read over the rollups,
-- bounded by index, and the planner's costs (generate_series rows it cannot know, lateral unions over
-- month spans) pass jit_above_cost: on a province of 910 institutions the institution dashboard's
-- monthly table spent 45 of its 63 ms compiling (EXPLAIN ANALYZE "JIT: … Total"), and more at 9,100.
-- On the role, not the database: the role is cluster-wide already (0007), and a per-database setting
-- would not follow a database created from a template.
-- depends: 0007_grafana_reader
ALTER ROLE jieneng_grafana SET jit = off;
