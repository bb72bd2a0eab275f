"""The benchmark: challenge scores, preference elicitation and extrapolation (docs/semantics.md)."""
