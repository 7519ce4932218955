-- Expected units with no accepted submission for the period.
select
    unit_code,
    unit_name,
    unit_type,
    received,
    last_status,
    last_received_at
from mart.expected_reports
where period = $period and not accepted
order by unit_type, unit_code
