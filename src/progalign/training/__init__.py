"""Training of historical language models (continued pre-training per century)."""
