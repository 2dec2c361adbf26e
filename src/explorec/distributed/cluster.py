"""Connecting to Ray: the optional dependency, a local cluster or an existing one, worker counts."""

from __future__ import annotations

import logging
from types import ModuleType

from explorec.errors import ConfigError, check_positive_int

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'explorec[ray]'"


def require_ray() -> ModuleType:
    """The ``ray`` module, or ``ConfigError`` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"the Ray backend needs Ray Data and Ray Train: {INSTALL_HINT}") from exc
    return ray


def connect(address: str | None = None) -> ModuleType:
    """Make sure this process is connected to a Ray cluster and return ``ray``.

    Parameters
    ----------
    address : str, optional
        An existing cluster (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``). None starts a local
        cluster on this machine (all its CPUs and GPUs). Either way, a process already connected
        (``ray.init`` called before, e.g. by a test fixture) keeps its connection.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address is not None and not str(address).strip():
        raise ConfigError(
            f"address must name a Ray cluster ('auto', 'host:port', 'ray://host:port'), got {address!r}"
        )
    try:
        if address is None:
            ray.init(include_dashboard=False)
        else:
            ray.init(address=address)
    except ConnectionError as exc:
        raise ConfigError(f"could not connect to the Ray cluster at address={address!r}: {exc}") from exc
    resources = ray.cluster_resources()
    logger.info(
        "connected to Ray %s: %s CPUs, %s GPUs",
        "local cluster" if address is None else address,
        resources.get("CPU", 0),
        resources.get("GPU", 0),
    )
    return ray


def cluster_gpus() -> int:
    """GPUs the connected cluster offers (0 on a CPU-only cluster)."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def check_workers(workers: int, *, use_gpu: bool) -> int:
    """``workers`` as a positive int; with GPUs, no more than the cluster has (one GPU per worker)."""
    workers = check_positive_int("workers", workers)
    if use_gpu:
        gpus = cluster_gpus()
        if workers > gpus:
            raise ConfigError(
                f"workers={workers} GPU workers need {workers} GPUs, the cluster has {gpus}; "
                f"pass workers <= {gpus} or use_gpu=False"
            )
    return workers


def resolve_use_gpu(use_gpu: bool | None) -> bool:
    """None: GPU workers exactly when the connected cluster has a GPU."""
    if use_gpu is None:
        return cluster_gpus() > 0
    if use_gpu and cluster_gpus() == 0:
        raise ConfigError("use_gpu=True but the Ray cluster has no GPU; pass use_gpu=None or False")
    return bool(use_gpu)
