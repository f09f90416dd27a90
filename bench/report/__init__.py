"""results_*.json -> bench/RESULTS.md, one section a module."""
