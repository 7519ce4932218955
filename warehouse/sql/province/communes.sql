-- Every commune of the province, with the bundle its figures come from and how its latest
-- bundle fared (a commune whose newest bundle was refused keeps its previous figures).
with communes as (
    select * from province.communes
),

bundles as (
    select * from province.bundles
),

loaded as (
    select
        commune_code,
        max(bundle_id) as bundle_id,
        count(distinct bundle_id) as bundles_loaded
    from bundles
    where status = 'loaded'
    group by commune_code
),

current_bundles as (
    select bundles.*
    from bundles
    inner join loaded
        on bundles.commune_code = loaded.commune_code
        and bundles.bundle_id = loaded.bundle_id
    where bundles.status = 'loaded'
),

last_checks as (
    select *
    from bundles
    qualify row_number() over (
        partition by commune_code order by checked_at desc, consolidation_id desc
    ) = 1
),

final as (
    select
        communes.commune_code,
        communes.commune_name,
        communes.province_code,
        communes.province_name,
        current_bundles.bundle_id,
        current_bundles.run_id,
        current_bundles.published_at,
        current_bundles.loaded_at,
        coalesce(loaded.bundles_loaded, 0) as bundles_loaded,
        last_checks.bundle_id as last_checked_bundle_id,
        last_checks.status as last_check_status,
        last_checks.reason as last_check_reason,
        last_checks.checked_at as last_checked_at
    from communes
    left join loaded on communes.commune_code = loaded.commune_code
    left join current_bundles on communes.commune_code = current_bundles.commune_code
    left join last_checks on communes.commune_code = last_checks.commune_code
)

select * from final
