-- The Message-IDs among these already taken from the mailbox.
select message_id
from raw.mail_messages
where message_id in (select unnest($message_ids::varchar[]))
