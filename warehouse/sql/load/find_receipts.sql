-- The receipts among this batch's hashes already registered, with their submissions.
select
    received.sha256,
    received.url,
    submissions.submission_id,
    submissions.duplicate_of
from raw.received_files as received
left join raw.submissions as submissions
    on received.received_file_id = submissions.received_file_id
where received.sha256 in (select unnest($hashes::varchar[]))
