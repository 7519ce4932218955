-- Completeness of every plan quarter already due (or with reports in), per unit type and
-- overall: a quarter before its deadline would show as a false zero.
with completeness as (
    select * from mart.completeness
),

expected_reports as (
    select * from mart.expected_reports
),

due as (
    select period
    from expected_reports
    group by period
    having max(deadline) < current_date or bool_or(received)
),

final as (
    select
        completeness.period,
        completeness.year,
        coalesce(completeness.unit_type, 'Tổng cộng') as unit_type,
        completeness.expected,
        completeness.received,
        completeness.accepted,
        completeness.on_time,
        completeness.accepted_rate,
        completeness.on_time_rate
    from completeness
    inner join due on completeness.period = due.period
)

select * from final
order by period, unit_type = 'Tổng cộng', unit_type
