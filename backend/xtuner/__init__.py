"""Everything xtuner sees: options, recipes, rendered configs, the subprocess env."""
