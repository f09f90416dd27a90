"""Image + Q&A -> validated LLaVA records; the dataset store."""
