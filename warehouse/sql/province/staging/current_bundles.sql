-- The bundle in use for each commune: its latest loaded one. Every per-commune mart reads its
-- rows through this.
with bundles as (
    select * from province.bundles
),

final as (
    select
        commune_code,
        max(bundle_id) as bundle_id
    from bundles
    where status = 'loaded'
    group by commune_code
)

select * from final
