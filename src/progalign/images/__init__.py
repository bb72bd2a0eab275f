"""Pinned container images of the workflow (docs/containers.md).

- :mod:`progalign.images.lock`: the accepted reference forms, the lock file
  (``containers/images.lock.yaml``) and the one-command lock update.
- :mod:`progalign.images.cli`: ``progalign images lock TARGET REF`` and ``progalign images show``.
"""
