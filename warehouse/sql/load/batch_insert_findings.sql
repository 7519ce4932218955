-- A batch's rows, built in memory and registered as `batch_findings`.
insert into raw.findings by name
select * from batch_findings
