"""Readers of native dataset formats, one module per family; import them from :mod:`explorec.data.loaders`."""
