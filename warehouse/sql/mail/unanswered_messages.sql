-- Messages taken from the mailbox whose latest reply attempt is not `sent`, oldest first.
with messages as (
    select * from raw.mail_messages
),

attempts as (
    select * from raw.mail_reply_attempts
),

latest as (
    select
        message_id,
        arg_max(status, attempt_id) as status,
        count(*) filter (where status = 'failed') as failures
    from attempts
    group by message_id
),

final as (
    select
        messages.message_id,
        messages.sender,
        messages.reply_to,
        messages.sender_unit,
        messages.subject,
        messages.received_at,
        messages.references_chain,
        messages.too_big,
        coalesce(latest.failures, 0) as failures
    from messages
    left join latest on messages.message_id = latest.message_id
    where latest.status is null or latest.status <> 'sent'
)

select * from final
order by received_at, message_id
