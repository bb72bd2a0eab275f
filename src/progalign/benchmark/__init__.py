"""The benchmark: challenge scores, preference elicitation and extrapolation (spec §2, §4)."""
