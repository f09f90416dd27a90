"""(dataset, options) -> a run; GPUs, memory estimates, start-up and preflight checks."""
