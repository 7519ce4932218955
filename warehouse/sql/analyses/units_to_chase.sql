-- Expected units of the period that owe something: nothing sent, only rejected files (they
-- must resend), or accepted after the deadline.
with expected_reports as (
    select * from mart.expected_reports where period = $period
),

final as (
    select
        period,
        unit_code,
        unit_name,
        unit_type,
        report_state,
        received,
        last_status,
        last_received_at,
        first_accepted_at
    from expected_reports
    where report_state in ('not_sent', 'awaiting_resend', 'late')
)

select * from final
order by
    case report_state when 'not_sent' then 1 when 'awaiting_resend' then 2 else 3 end,
    unit_type,
    unit_code
