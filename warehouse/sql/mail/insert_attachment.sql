insert into raw.mail_attachments (message_id, part, attachment_name, url, sha256, feedback_path)
values ($message_id, $part, $attachment_name, $url, $sha256, $feedback_path)
on conflict do nothing
