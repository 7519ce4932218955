-- Every attachment taken from the mailbox, with the message that carried it.
with attachments as (
    select * from raw.mail_attachments
),

messages as (
    select * from raw.mail_messages
),

final as (
    select
        attachments.url,
        attachments.sha256,
        attachments.part as mail_part,
        attachments.attachment_name,
        messages.message_id as mail_message_id,
        messages.sender as mail_sender,
        messages.sender_unit as mail_sender_unit,
        messages.subject as mail_subject,
        messages.mailbox,
        messages.uidvalidity as mail_uidvalidity,
        messages.uid as mail_uid,
        messages.received_at as mail_received_at
    from attachments
    inner join messages on attachments.message_id = messages.message_id
)

select * from final
