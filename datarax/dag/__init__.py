"""Graph nodes that compose operators into a pipeline."""
