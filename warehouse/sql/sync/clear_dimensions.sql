-- Dimensions are rewritten whole from the schema files; periods are kept (loads add some).
delete from core.plan_years;
delete from core.units;
delete from core.tasks;
delete from core.data_elements;
delete from core.element_targets;
delete from core.indicators;
delete from core.indicator_targets;
delete from core.assignments;
delete from core.reporting;
delete from meta.schema_sync;
