"""Pinned, verified downloads of the published ProgressGym artefacts on the Hugging Face Hub.

- :mod:`progalign.hub.download`: any repo at a full commit, resumable, verified, atomic.
- :mod:`progalign.hub.corpus`: ``PKU-Alignment/ProgressGym-HistText`` into ``C0cc.jsonl`` files.
- :mod:`progalign.hub.models`: the 36 ``ProgressGym-HistLlama3`` models.
- :mod:`progalign.hub.pin`: ``progalign hub pin``, which resolves them to commits and writes the
  Hub revision lock (:mod:`progalign.hublock`; docs/hub.md).
"""
