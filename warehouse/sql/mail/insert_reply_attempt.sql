insert into raw.mail_reply_attempts (
    attempt_id, message_id, reply_message_id, recipient, subject, outcome, status, error,
    attempted_at
)
values (
    nextval('raw.mail_reply_attempt_id'),
    $message_id,
    $reply_message_id,
    $recipient,
    $subject,
    $outcome,
    $status,
    $error,
    $attempted_at
)
