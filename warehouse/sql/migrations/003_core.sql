-- The plan's dimensions, rewritten from the schema files by every sync.

create table core.plan_years (
    year integer primary key
);

create table core.units (
    unit_code varchar primary key,
    unit_name varchar not null,
    unit_type varchar not null,
    email varchar,
    active boolean not null
);

create table core.tasks (
    task_code varchar primary key,
    group_code varchar not null,
    content varchar not null,
    lead varchar not null,
    coordinators varchar not null,
    results varchar not null,
    timeframe varchar not null,
    timeframe_kind varchar not null,
    start_year integer not null,
    end_year integer not null
);

create table core.data_elements (
    element_code varchar primary key,
    task_code varchar not null,
    element_name varchar not null,
    measure varchar not null,
    element_type varchar not null check (element_type in ('count', 'money', 'stock'))
);

-- Targets per element and year; none ship with the default schema yet.
create table core.element_targets (
    element_code varchar not null,
    year integer not null,
    target double not null,
    primary key (element_code, year)
);

create table core.indicators (
    indicator_code varchar primary key,
    indicator_name varchar not null,
    kind varchar not null check (kind in ('ratio', 'count_units')),
    numerator_element varchar not null,
    denominator_element varchar,
    unit_type varchar,
    scale double not null,
    target_op varchar
);

create table core.indicator_targets (
    indicator_code varchar not null,
    year integer not null,
    target double not null,
    primary key (indicator_code, year)
);

-- The responsibility matrix: only the cells with a role.
create table core.assignments (
    task_code varchar not null,
    unit_code varchar not null,
    year integer not null,
    role varchar not null check (role in ('lead', 'coordinate')),
    primary key (task_code, unit_code, year)
);

-- Every plan quarter, and any other period a submission named. `deadline_at` is the first
-- instant after the deadline day, Asia/Ho_Chi_Minh.
create table core.periods (
    period_code varchar primary key,
    period_kind varchar not null,
    start_date date not null,
    end_date date not null,
    year integer not null,
    deadline date not null,
    deadline_at timestamptz not null
);
