-- A batch's rows, built in memory and registered as `batch_received_files`.
insert into raw.received_files by name
select * from batch_received_files
