-- Every bundle the province checked, in every consolidation: loaded, or refused and why.
with bundles as (
    select * from province.bundles
),

communes as (
    select * from province.communes
),

final as (
    select
        bundles.consolidation_id,
        bundles.commune_code,
        coalesce(communes.commune_name, bundles.commune_name) as commune_name,
        bundles.bundle_id,
        bundles.status,
        bundles.reason,
        bundles.contract_version,
        bundles.run_id,
        bundles.published_at,
        bundles.row_counts,
        bundles.checked_at,
        bundles.loaded_at
    from bundles
    left join communes on bundles.commune_code = communes.commune_code
)

select * from final
