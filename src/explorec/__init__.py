"""explorec: a recommender engine where a pretrained language model understands the catalogue.

Heavy dependencies (torch, sentence-transformers, faiss, fastapi) are imported only inside the modules
that need them, so ``import explorec`` stays light.
"""

from explorec.data.interactions import Catalog, Dataset, Interactions, Split
from explorec.errors import ConfigError, DataError, ExploreCError, NotFittedError, UnknownIdError
from explorec.types import ScoredItems, Slate

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "ConfigError",
    "DataError",
    "Dataset",
    "ExploreCError",
    "Interactions",
    "NotFittedError",
    "ScoredItems",
    "Slate",
    "Split",
    "UnknownIdError",
    "__version__",
]
