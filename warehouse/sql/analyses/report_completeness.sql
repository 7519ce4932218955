-- The period's completeness, overall first, then per unit type.
select
    coalesce(unit_type, 'Tổng') as unit_type,
    expected,
    received,
    accepted,
    on_time,
    accepted_rate,
    on_time_rate
from mart.completeness
where period = $period
order by level = 'unit_type', unit_type
