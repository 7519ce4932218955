-- Every expected unit of the period: where its report stands and what of it was received.
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
        accepted,
        values_received,
        progress_received,
        files_received,
        first_accepted_at,
        last_received_at
    from expected_reports
)

select * from final
order by unit_type, unit_code
