-- Expected units with no accepted submission for the period, and why: never sent, or sent
-- and rejected (waiting for a corrected file).
select
    unit_code,
    unit_name,
    unit_type,
    received,
    follow_up,
    last_status,
    last_received_at
from mart.expected_reports
where period = $period and not accepted
order by follow_up, unit_type, unit_code
