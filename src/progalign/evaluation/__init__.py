"""The value-vector engine: prompts, answer crediting and the 19-d ProgressGym vector."""
