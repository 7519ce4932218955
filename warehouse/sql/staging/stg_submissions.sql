with source as (
    select * from raw.submissions
),

final as (
    select
        submission_id,
        received_file_id,
        run_id,
        verdict,
        verdict in ('accepted', 'warned') as is_accepted,
        duplicate_of,
        nullif(trim(unit_code), '') as unit_code,
        nullif(trim(period_code), '') as period_code,
        template_version,
        error_count,
        warning_count,
        value_count,
        progress_count,
        loaded_at
    from source
)

select * from final
