-- The task_progress mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.task_progress
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
        rows.task_code,
        rows.group_code,
        rows.task_content,
        rows.period,
        rows.year,
        rows.units_expected,
        rows.units_reported,
        rows.units_missing,
        rows.units_not_started,
        rows.units_in_progress,
        rows.units_completed,
        rows.results,
        rows.difficulties,
        rows.proposals,
        rows.evidence,
        rows.last_received_at
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
