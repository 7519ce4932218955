-- Where a received file came from when it came by email: one row per attachment.
with attachments as (
    select * from staging.stg_mail_attachments
),

final as (
    select
        url,
        sha256,
        mail_message_id,
        mail_sender,
        mail_sender_unit,
        mail_subject,
        attachment_name,
        mail_received_at
    from attachments
)

select * from final
