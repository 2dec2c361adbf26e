"""Name -> model class. Every registered model must pass ``tests/models/test_contract.py``.

Entries are import paths so that registering a torch model does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from explorec.errors import ConfigError

if TYPE_CHECKING:
    from explorec.models.base import Recommender

#: registry name -> "module:Class"
MODELS: dict[str, str] = {
    "popularity": "explorec.models.popularity:Popularity",
    "itemknn": "explorec.models.itemknn:ItemKNN",
    "ease": "explorec.models.ease:EASE",
    "textknn": "explorec.models.textknn:TextKNN",
    "lm-adapter": "explorec.models.adapter:LMAdapter",
    "two-tower": "explorec.models.two_tower:TwoTower",
    "sasrec": "explorec.models.sasrec:SASRec",
    "fusion-weighted": "explorec.models.fusion:WeightedFusion",
    "fusion-rrf": "explorec.models.fusion:RankFusion",
    "fusion-learned": "explorec.models.fusion:LearnedFusion",
    "ease-ipw": "explorec.models.ipw:EASEIPW",
}


def register(name: str, target: str) -> None:
    """Register ``"module:Class"`` under ``name`` (plug-ins and later modules)."""
    MODELS[name] = target


def resolve_class(target: str) -> type[Recommender]:
    """Import ``"module:Class"`` or ``"module.Class"``."""
    module, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    klass = getattr(importlib.import_module(module), attr)
    return klass


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; an unknown name lists the known ones."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return resolve_class(MODELS[name])


def make_model(name: str, **params: Any) -> Recommender:
    """Instantiate the model registered under ``name`` with keyword hyper-parameters.

    Parameter names and value types are checked against the class's signature first
    (:func:`explorec.spec.build`): a typo lists the allowed names, a wrong value names the type expected.
    """
    from explorec.spec import build

    return build(model_class(name), params, what=f"model {name!r}")
