"""DuckDB projections of the log: tables, views, the projector, SQL serving and export."""
