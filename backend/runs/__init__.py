"""A run's life: registry, spec on disk, the JobManager, restart recovery, progress."""
