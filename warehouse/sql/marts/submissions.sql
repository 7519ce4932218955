with submissions as (
    select * from core.submissions
),

units as (
    select * from core.units
),

final as (
    select
        submissions.submission_id,
        submissions.file_name,
        submissions.url,
        submissions.sha256,
        submissions.unit_code,
        units.unit_name,
        units.unit_type,
        submissions.period_code as period,
        submissions.year,
        submissions.version,
        submissions.status,
        submissions.is_current,
        submissions.superseded_by,
        submissions.duplicate_of,
        submissions.error_count,
        submissions.warning_count,
        submissions.value_count,
        submissions.received_at,
        submissions.deadline,
        submissions.received_on_time as on_time,
        submissions.loaded_at,
        submissions.run_id
    from submissions
    left join units on submissions.unit_code = units.unit_code
)

select * from final
