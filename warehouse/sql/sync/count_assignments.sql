-- Cells of the responsibility matrix with a role, as written.
select count(*) from core.assignments
