"""Analysis of predictions tables: metrics, statistics, transfer tables, reports (no torch)."""
