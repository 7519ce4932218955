-- The indicators of the period's year.
select
    indicator_code,
    indicator_name,
    numerator,
    denominator,
    value,
    target,
    met
from mart.indicators
where year = $year
order by indicator_code
