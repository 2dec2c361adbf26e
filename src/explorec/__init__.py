"""explorec: a recommender engine where a pretrained language model understands the catalogue.

What is in the package:

* ``explorec.data``: interactions, catalogues, dataset loaders and splits (``data.toy`` holds the
  planted-answer dataset every model must solve);
* ``explorec.encoders``: item text encoders (all-MiniLM-L6-v2, or hashing for tests) with a disk cache;
* ``explorec.models``: popularity, item-kNN, EASE, EASE-IPW, fold-in SVD, text-kNN, the LM adapter,
  two-tower, SASRec and score/rank/learned fusion, by name through ``models.registry``;
* ``explorec.rerank`` and ``explorec.policies``: re-rankers (MMR, DPP, ...) and exploration policies
  that record the propensity of every slot they fill;
* ``explorec.pipeline`` and ``explorec.ranking``: ``recommend()``, score -> mask -> candidates ->
  re-rank -> policy, with one masking function and one top-k;
* ``explorec.impressions``: the impression record that the simulator, off-policy evaluation and the
  service share;
* ``explorec.evaluation``: full-ranking metrics, significance tests, off-policy estimators and an
  interactive simulator;
* ``explorec.index``: exact and FAISS nearest-neighbour search;
* ``explorec.store`` and ``explorec.service``: the SQL store (SQLite or PostgreSQL) and the FastAPI
  service over it (``explorec serve``);
* ``explorec.cli``: the ``explorec`` command.

Heavy dependencies (torch, sentence-transformers, faiss, fastapi, sqlalchemy) are imported only inside
the modules that need them, so ``import explorec`` stays light.
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
