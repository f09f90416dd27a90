"""One-off probes: launch variants, operator counts, picking a variant."""
