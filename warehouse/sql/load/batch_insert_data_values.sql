-- A batch's rows, built in memory and registered as `batch_data_values`.
insert into raw.data_values by name
select * from batch_data_values
