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
    "textknn-tuned": "explorec.models.textknn_tuned:TunedTextKNN",
    "lm-adapter": "explorec.models.adapter:LMAdapter",
    "two-tower": "explorec.models.two_tower:TwoTower",
    "sasrec": "explorec.models.sasrec:SASRec",
    "fusion": "explorec.models.fusion:TunedFusion",
    "fusion-weighted": "explorec.models.fusion:WeightedFusion",
    "fusion-rrf": "explorec.models.fusion:RankFusion",
    "fusion-learned": "explorec.models.fusion:LearnedFusion",
    "ease-ipw": "explorec.models.ipw:EASEIPW",
    "foldin-svd": "explorec.models.svd:FoldInSVD",
}


def register(name: str, target: str) -> None:
    """Register ``"module:Class"`` under ``name`` (plug-ins and later modules)."""
    if ":" not in target:
        raise ConfigError(f"register({name!r}): target must be 'module:Class', got {target!r}")
    MODELS[name] = target


def _import(target: str) -> type[Recommender]:
    """Import a registry entry ``"module:Class"`` (entries are code the project ships, never file input)."""
    module, _, attr = target.partition(":")
    klass: type[Recommender] = getattr(importlib.import_module(module), attr)
    return klass


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; an unknown name lists the known ones."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return _import(MODELS[name])


def make_model(name: str, **params: Any) -> Recommender:
    """Instantiate the model registered under ``name`` with keyword hyper-parameters.

    A parameter the model does not take raises ``ConfigError`` listing the ones it does; a value of
    the wrong type (``l2="abc"``, ``k=2.5``) one naming the type expected (:func:`explorec.spec.build`).
    """
    from explorec.persist import check_params
    from explorec.spec import build

    klass = model_class(name)
    check_params(klass, params, f"model {name!r}", error=ConfigError)
    return build(klass, params, what=f"model {name!r}")
