"""The benchmark suite: the CLI and app flows, their fixtures, timed subprocesses."""
