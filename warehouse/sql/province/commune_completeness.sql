-- The completeness mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.completeness
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
        rows.level,
        rows.unit_type,
        rows.expected,
        rows.received,
        rows.accepted,
        rows.on_time,
        rows.received_rate,
        rows.accepted_rate,
        rows.on_time_rate,
        rows.not_sent,
        rows.awaiting_resend,
        rows.late,
        rows.values_received,
        rows.progress_received
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
