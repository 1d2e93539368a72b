"""Operating a deployed stack: what a cloud engineer runs against it (teardown)."""
