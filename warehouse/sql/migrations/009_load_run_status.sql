-- How each load run ended: 'finished' when it wrote its summary, 'interrupted' when a later
-- run found it without an end (killed, interrupted, crashed) and closed it. Null while running.
alter table meta.load_runs add column status varchar;

update meta.load_runs set status = 'finished' where finished_at is not null;
