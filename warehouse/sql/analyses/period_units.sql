-- Every expected unit of the period: who to chase and what of its report was received.
select
    unit_code,
    unit_name,
    unit_type,
    follow_up,
    values_received,
    progress_received,
    files_received,
    first_accepted_at,
    last_received_at
from mart.expected_reports
where period = $period
order by unit_type, unit_code
