-- The submissions mart of every commune, as its latest loaded bundle holds it.
with rows as (
    select * from province.submissions
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
        rows.url,
        rows.sha256,
        rows.unit_code,
        rows.unit_name,
        rows.unit_type,
        rows.period,
        rows.year,
        rows.version,
        rows.status,
        rows.is_current,
        rows.superseded_by,
        rows.duplicate_of,
        rows.error_count,
        rows.warning_count,
        rows.value_count,
        rows.received_at,
        rows.deadline,
        rows.on_time,
        rows.loaded_at,
        rows.run_id,
        rows.mail_message_id,
        rows.mail_sender,
        rows.mail_sender_unit,
        rows.mail_subject,
        rows.attachment_name
    from rows
    inner join current_bundles
        on rows.commune_code = current_bundles.commune_code
        and rows.bundle_id = current_bundles.bundle_id
    left join communes on rows.commune_code = communes.commune_code
)

select * from final
