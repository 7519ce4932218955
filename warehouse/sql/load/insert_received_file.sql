insert into raw.received_files (
    received_file_id, sha256, size, name, url, received_at, archived_path, run_id, registered_at
)
values (
    nextval('raw.received_file_id'),
    $sha256,
    $size,
    $name,
    $url,
    $received_at,
    $archived_path,
    $run_id,
    $registered_at
)
returning received_file_id
