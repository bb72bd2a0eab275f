"""The package version, in its own module so that low layers (provenance, the Hub and
questionnaire downloads, the CLI) need not import the package root, which re-exports the
plug-in API of :mod:`progalign.benchmark`."""

__version__ = "0.1.0"
