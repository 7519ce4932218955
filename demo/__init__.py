"""The demonstration: a sample plan year of submissions, generated from the catalog."""
