select distinct sha256
from raw.received_files
