-- The expected_reports mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.expected_reports
),

communes as (
    select * from province.communes
),

current_bundles as (
    select * from province.current_bundles
),

final as (
    select
        rows.commune_code,
        coalesce(communes.commune_name, rows.commune_code) as commune_name,
        rows.period,
        rows.year,
        rows.unit_code,
        rows.unit_name,
        rows.unit_type,
        rows.task_count,
        rows.received,
        rows.accepted,
        rows.on_time,
        rows.files_received,
        rows.current_version,
        rows.current_submission_id,
        rows.last_status,
        rows.first_accepted_at,
        rows.last_received_at,
        rows.deadline,
        rows.report_state,
        rows.values_received,
        rows.progress_received
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
