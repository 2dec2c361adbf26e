"""Data layer: the data model, loaders of native formats, preprocessing, splits and the registry."""

from explorec.data.interactions import Catalog, Dataset, Interactions, Split

__all__ = ["Catalog", "Dataset", "Interactions", "Split"]
