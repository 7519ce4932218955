-- Bootstrap: the version table every migration is recorded in. Safe to run on every init.
create schema if not exists meta;

create table if not exists meta.schema_version (
    version integer primary key,
    name varchar not null,
    checksum varchar not null,
    applied_at timestamptz not null default current_timestamp
);

-- Checksum of the view files the views were last created from.
create table if not exists meta.view_checksum (
    checksum varchar not null
);
