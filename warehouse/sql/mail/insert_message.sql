insert into raw.mail_messages (
    message_id, mailbox, uidvalidity, uid, sender, reply_to, sender_unit, subject, received_at,
    references_chain, attachment_count, too_big, run_id, recorded_at
)
values (
    $message_id, $mailbox, $uidvalidity, $uid, $sender, $reply_to, $sender_unit, $subject,
    $received_at, $references_chain, $attachment_count, $too_big, $run_id, $recorded_at
)
on conflict do nothing
