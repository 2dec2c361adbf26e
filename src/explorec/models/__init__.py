"""Recommenders: ``fit(train, catalog) -> self``; ``score(users, items=None, history=None)``."""

from explorec.models.base import Recommender
from explorec.models.registry import MODELS, make_model, model_class, register

__all__ = ["MODELS", "Recommender", "make_model", "model_class", "register"]
