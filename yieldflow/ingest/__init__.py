"""Sensor and harvest files checked against the data contract by DuckDB; bad rows
quarantined with their reason, every row accounted for."""
