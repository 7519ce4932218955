-- A batch's rows, built in memory and registered as `batch_submissions`.
insert into raw.submissions by name
select * from batch_submissions
