"""Backend services with real subprocesses (a fake trainer, converters, installers) and SQLite."""
