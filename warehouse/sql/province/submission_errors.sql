-- The submission_errors mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.submission_errors
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
        rows.submission_id,
        rows.file_name,
        rows.unit_code,
        rows.period,
        rows.version,
        rows.sheet,
        rows.cell,
        rows.severity,
        rows.error_code,
        rows.message,
        rows.line
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
