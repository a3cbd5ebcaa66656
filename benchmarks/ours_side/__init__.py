"""Workers for our side (and the openai client alone), run as ``python -m benchmarks.ours_side.<name>``."""
