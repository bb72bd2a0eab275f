"""progalign: a reproducibility kit for progress alignment (a re-implementation of ProgressGym)."""

__version__ = "0.1.0"
