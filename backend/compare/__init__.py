"""Side-by-side answers, scoring, probes, timeline, adapters, export."""
