-- The walk down the region hierarchy ("this region and everything under it", store/regions.py: the API's
-- scopes, scoring's and the registry's region filters) joins region.parent_code to the codes found so far
-- at every step; an index lets each step look its children up instead of scanning the table.
-- depends: 0001_core
CREATE INDEX region_parent_idx ON region (parent_code);
