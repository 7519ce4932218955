-- The province: every expected unit of every commune (current bundles), counted as a commune
-- counts its own; numerators count expected units only, so no rate can exceed 100%.
with expected_reports as (
    select * from mart.expected_reports
),

counts as (
    select
        period,
        year,
        case when grouping(unit_type) = 1 then 'overall' else 'unit_type' end as level,
        unit_type,
        count(*) as expected,
        count(*) filter (where received) as received,
        count(*) filter (where accepted) as accepted,
        count(*) filter (where on_time) as on_time,
        count(*) filter (where report_state = 'not_sent') as not_sent,
        count(*) filter (where report_state = 'awaiting_resend') as awaiting_resend,
        count(*) filter (where report_state = 'late') as late,
        count(*) filter (where values_received) as values_received,
        count(*) filter (where progress_received) as progress_received
    from expected_reports
    group by grouping sets ((period, year, unit_type), (period, year))
),

final as (
    select
        period,
        year,
        level,
        unit_type,
        expected,
        received,
        accepted,
        on_time,
        round(100.0 * received / nullif(expected, 0), 2) as received_rate,
        round(100.0 * accepted / nullif(expected, 0), 2) as accepted_rate,
        round(100.0 * on_time / nullif(expected, 0), 2) as on_time_rate,
        not_sent,
        awaiting_resend,
        late,
        values_received,
        progress_received
    from counts
)

select * from final
