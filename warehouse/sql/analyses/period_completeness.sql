select
    level,
    unit_type,
    expected,
    received,
    accepted,
    on_time,
    received_rate,
    accepted_rate,
    on_time_rate,
    not_sent,
    awaiting_resend,
    late
from mart.completeness
where period = $period
order by level desc, unit_type
