-- Versions already loaded for the unit and period, and how many of them were accepted.
select
    count(*) as versions,
    count(*) filter (where verdict in ('accepted', 'warned')) as accepted
from raw.submissions
where unit_code = $unit_code and period_code = $period_code and verdict <> 'duplicate'
