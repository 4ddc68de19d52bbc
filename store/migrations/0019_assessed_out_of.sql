-- The maximum an assessed item's points were entered against (the item's maximum in the methodology that
-- validated the entry), so one set of entries scores under methodologies that weigh an item differently
-- (jiangsu-2026's 5-point organisation item is 10 points in national-2026): an entry is a share of it.
-- depends: 0003_scoring
--
-- NULL (entries made before this column): the points count as entered, capped at the item's maximum.

ALTER TABLE assessed_item ADD COLUMN out_of double precision CHECK (out_of > 0 AND points <= out_of);
