-- The walk down the region hierarchy ("this city and everything under it", store/regions.py) joins
-- region.parent_code to the codes found so far at every step; without an index each step scans the
-- whole table, and the planner, costing that scan, would rather read a panel's usage rollup by day
-- range than by meter (tests/dashboards/test_scale.py).
CREATE INDEX region_parent_idx ON region (parent_code);
