-- How often units report (the setting `reporting_period_kind`): the marts expect one report per
-- unit and plan period of this kind. One row, rewritten by every sync with the dimensions.
create table core.reporting (
    period_kind varchar not null check (period_kind in ('year', 'half', 'quarter', 'month'))
);

-- A warehouse that exists already has reported by quarter.
insert into core.reporting values ('quarter');
