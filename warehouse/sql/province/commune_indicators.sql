-- The indicators mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.indicators
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
        rows.indicator_code,
        rows.indicator_name,
        rows.kind,
        rows.year,
        rows.numerator,
        rows.denominator,
        rows.value,
        rows.target,
        rows.actual,
        rows.percent_of_target,
        rows.target_op,
        rows.met
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
