-- A batch's rows, built in memory and registered as `batch_progress`.
insert into raw.progress by name
select * from batch_progress
