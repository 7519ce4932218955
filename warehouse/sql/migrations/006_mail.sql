-- Submissions by email: which messages were taken, what each attachment became, and every
-- reply attempt. Append-only like the rest of raw: a reply's state is its latest attempt.

create table raw.mail_messages (
    message_id varchar primary key,
    mailbox varchar not null,
    uidvalidity bigint not null,
    uid bigint not null,
    sender varchar not null,
    reply_to varchar not null,
    sender_unit varchar,
    subject varchar not null,
    received_at timestamptz not null,
    references_chain varchar not null,
    attachment_count integer not null,
    too_big boolean not null,
    run_id bigint,
    recorded_at timestamptz not null
);

-- One row per attachment; `url` is the received file's URL (`mid:<message-id>/<part>`).
create table raw.mail_attachments (
    message_id varchar not null references raw.mail_messages (message_id),
    part integer not null,
    attachment_name varchar not null,
    url varchar not null unique,
    sha256 varchar not null,
    feedback_path varchar,
    primary key (message_id, part)
);

create sequence raw.mail_reply_attempt_id start 1;

-- `sending` is written before the server is asked, `sent` or `failed` after it answered; a
-- reply whose latest attempt is not `sent` is sent again by the next run.
create table raw.mail_reply_attempts (
    attempt_id bigint primary key,
    message_id varchar not null references raw.mail_messages (message_id),
    reply_message_id varchar not null,
    recipient varchar not null,
    subject varchar not null,
    outcome varchar not null,
    status varchar not null check (status in ('sending', 'sent', 'failed')),
    error varchar,
    attempted_at timestamptz not null
);
