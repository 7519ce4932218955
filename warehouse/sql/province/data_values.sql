-- The data_values mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.data_values
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
        rows.unit_code,
        rows.unit_name,
        rows.unit_type,
        rows.period,
        rows.year,
        rows.task_code,
        rows.element_code,
        rows.element_name,
        rows.measure,
        rows.element_type,
        rows.value,
        rows.note,
        rows.submission_id,
        rows.version,
        rows.received_at
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
