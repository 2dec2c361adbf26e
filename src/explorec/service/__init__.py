"""The online service: a FastAPI app over the store (``explorec serve``).

``create_app(settings)`` (:mod:`explorec.service.app`) builds it; :mod:`~explorec.service.schemas`
holds every request and response body; :mod:`~explorec.service.settings` its configuration;
:mod:`~explorec.service.served` the state one process serves from; :mod:`~explorec.service.slates`
the fallback chain around :func:`explorec.pipeline.recommend`. FastAPI is imported only when the
app is built (``import explorec.service`` stays light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorec.service.app import create_app
    from explorec.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from explorec.service.app import create_app

        return create_app
    if name in ("ServiceSettings", "load_settings"):
        from explorec.service import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'explorec.service' has no attribute {name!r}")
