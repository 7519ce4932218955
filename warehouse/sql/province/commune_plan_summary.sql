-- The plan_summary mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.plan_summary
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
        rows.year,
        rows.in_timeframe,
        rows.element_code,
        rows.element_name,
        rows.measure,
        rows.element_type,
        rows.total,
        rows.units_reporting,
        rows.units_expected,
        rows.target,
        rows.actual,
        rows.percent_of_target,
        rows.met
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
