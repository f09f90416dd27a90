"""Code that runs inside xtuner's own processes (patches, hooks, sitecustomize)."""
