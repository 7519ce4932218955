-- A commune mart carried up as every commune's latest loaded bundle holds it, with the
-- commune's name: `{table}` is the province table the bundles' rows of that mart are kept in.
with rows as (
    select * from province.{table}
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
        rows.* exclude (commune_code, bundle_id)
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
