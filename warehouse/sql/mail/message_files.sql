-- What each attachment of these messages became: its submission, version and findings; an
-- unpacked .zip answers with each of its members (`zip://MEMBER::ATTACHMENT-URL`).
with attachments as (
    select * from raw.mail_attachments
),

received as (
    select * from raw.received_files
),

submissions as (
    select * from core.submissions
),

findings as (
    select * from raw.findings
),

messages_found as (
    select
        submission_id,
        list(
            struct_pack(severity := severity, message := message) order by line
        ) as findings
    from findings
    group by submission_id
),

final as (
    select
        attachments.message_id,
        attachments.part,
        case
            when received.url = attachments.url then attachments.attachment_name
            else attachments.attachment_name || '/' || received.name
        end as attachment_name,
        received.sha256,
        case when received.url = attachments.url then attachments.feedback_path end
            as feedback_path,
        submissions.submission_id,
        submissions.verdict,
        submissions.status,
        submissions.unit_code,
        submissions.period_code,
        submissions.version,
        submissions.value_count,
        submissions.error_count,
        submissions.warning_count,
        submissions.duplicate_of,
        coalesce(messages_found.findings, []) as findings
    from attachments
    left join received
        on (attachments.url = received.url and attachments.sha256 = received.sha256)
        or (
            starts_with(received.url, 'zip://')
            and ends_with(received.url, '::' || attachments.url)
        )
    left join submissions on received.received_file_id = submissions.received_file_id
    left join messages_found on submissions.submission_id = messages_found.submission_id
    where attachments.message_id in (select unnest($message_ids::varchar[]))
)

select * from final
order by message_id, part, attachment_name
