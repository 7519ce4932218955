"""The DuckDB warehouse: numbered migrations, versioned loads, marts and the published copy."""
