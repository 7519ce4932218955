with submissions as (
    select * from core.submissions
),

units as (
    select * from core.units
),

mail as (
    select * from core.mail_provenance
),

final as (
    select
        submissions.submission_id,
        submissions.file_name,
        submissions.url,
        submissions.sha256,
        submissions.unit_code,
        units.unit_name,
        units.unit_type,
        submissions.period_code as period,
        submissions.year,
        submissions.version,
        submissions.status,
        submissions.is_current,
        submissions.superseded_by,
        submissions.duplicate_of,
        submissions.error_count,
        submissions.warning_count,
        submissions.value_count,
        submissions.received_at,
        submissions.deadline,
        submissions.received_on_time as on_time,
        submissions.loaded_at,
        submissions.run_id,
        mail.mail_message_id,
        mail.mail_sender,
        mail.mail_sender_unit,
        mail.mail_subject,
        mail.attachment_name
    from submissions
    left join units on submissions.unit_code = units.unit_code
    left join mail on submissions.url = mail.url and submissions.sha256 = mail.sha256
)

select * from final
