-- The first file loaded with these bytes; later copies are its duplicates.
select
    submissions.submission_id,
    submissions.unit_code,
    submissions.period_code
from raw.submissions as submissions
inner join raw.received_files as received
    on submissions.received_file_id = received.received_file_id
where received.sha256 = $sha256 and submissions.verdict <> 'duplicate'
order by submissions.submission_id
limit 1
