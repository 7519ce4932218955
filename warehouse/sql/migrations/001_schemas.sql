-- The layers: raw (what was received and read, append-only), staging (renames and casts of raw),
-- core (the plan's dimensions and the versioned model), mart (the public contract).
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists core;
create schema if not exists mart;

create sequence meta.load_run_id start 1;

create table meta.load_runs (
    run_id bigint primary key,
    started_at timestamptz not null,
    finished_at timestamptz,
    imported integer,
    updated integer,
    ignored integer,
    rejected integer
);
