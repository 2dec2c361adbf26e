"""``explorec serve``: the HTTP service (FastAPI on uvicorn), bound to 127.0.0.1 unless configured."""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from explorec.cli._common import summary

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the recommendation service (HTTP API, every impression logged)",
        description="Serve recommendations over HTTP (see docs/service.md). Configuration: a TOML file "
        "(--config), then EXPLOREC_* environment variables (e.g. EXPLOREC_DATABASE_URL), then the "
        "options below. Every /v1 route needs an API key (`explorec keys create --scope write`).",
    )
    parser.add_argument("--config", default=None, help="configuration file (TOML); see docs/service.md")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or the config's)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8000, or the config's)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="uvicorn worker processes (default 1, or the config's); each is a replica of the store",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve the embedded generated shop: seeds a store under --demo-dir, prints a ready API key "
        "and the dashboard address (/dashboard)",
    )
    parser.add_argument(
        "--demo-dir", default="runs/serve-demo", help="store folder of --demo (runs/serve-demo)"
    )
    parser.add_argument(
        "--encoder",
        default=None,
        help="text encoder: default (the packaged all-MiniLM-L6-v2) or hashing:DIM (overrides the config)",
    )
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from explorec.service.app import create_app
    from explorec.service.settings import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if args.encoder is not None:
        overrides["encoder"] = args.encoder
    key = None
    if args.demo:
        folder = Path(args.demo_dir)
        folder.mkdir(parents=True, exist_ok=True)
        overrides.setdefault("database_url", f"sqlite:///{folder / 'explorec.db'}")
    settings = load_settings(args.config, **overrides)
    if args.demo and settings.registry_dir is None:
        # the demo serves a trained model: a registry beside its store, refitted once below
        settings = load_settings(args.config, **overrides, registry_dir=str(Path(args.demo_dir) / "registry"))
    if args.demo:
        key = _prepare_demo(settings)
        summary(args, f"demo shop seeded into {settings.database_url}; starting the service")
    base = f"http://{settings.host}:{settings.port}"
    print(f"explorec service on {base}  (API docs: {base}/docs, metrics: {base}/metrics)")
    if settings.dashboard:
        print(f"dashboard: {base}/dashboard  (log in with an API key)")
    print(f"store: {settings.database_url}")
    if settings.pseudonymise_secret is not None:
        print("user ids: pseudonymised at the edge (HMAC-SHA256 with pseudonymise_secret)")
    if key is not None:
        print(f"API key (scope admin, shown once): {key}")
        print(f'try:  curl -H "Authorization: Bearer {key}" {base}/v1/users/U00000/recommendations?k=5')
    trainer = None
    if settings.trainer:
        from explorec.online.trainer import start_trainer_process

        trainer = start_trainer_process(settings)
        print(
            f"background trainer: pid {trainer.pid}, {settings.trainer_model} every "
            f"{settings.trainer_interval_s:g} s and on POST /v1/models/retrain, "
            f"registry {settings.registry_dir}",
            flush=True,
        )
    metrics_dir: str | None = None
    try:
        if settings.workers > 1:
            # each worker imports the app by name and builds it from the resolved settings; every
            # worker is a replica of the store (own served state, committer, learner, registry follower)
            import os

            from explorec.service.app import SETTINGS_ENV

            os.environ[SETTINGS_ENV] = settings.model_dump_json()
            metrics_dir = _shared_metrics_dir()
            if _reuse_port(settings.worker_sockets):
                return _serve_reuse_port(settings)
            print(f"{settings.workers} worker processes (one shared socket)", flush=True)
            uvicorn.run(
                WORKER_APP,
                workers=settings.workers,
                # a worker loading a large catalogue (or on a loaded machine) answers the supervisor's
                # ping late; uvicorn's default of 5 s would kill and restart it again and again
                timeout_worker_healthcheck=120,
                **_uvicorn_options(settings, factory=True),
            )
        else:
            uvicorn.run(create_app(settings), **_uvicorn_options(settings))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if trainer is not None:
            trainer.terminate()
            trainer.join(timeout=10)
    return 0


WORKER_APP = "explorec.service.app:app_from_environment"  # each worker builds the app from the environment


def _uvicorn_options(settings: Any, *, factory: bool = False) -> dict[str, Any]:
    """The uvicorn options every way of serving shares (one process, shared socket, SO_REUSEPORT)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": settings.access_log,
    }
    if factory:
        options["factory"] = True
    return options


def _reuse_port(mode: str) -> bool:
    """Whether ``worker_sockets`` = ``mode`` gives each worker its own ``SO_REUSEPORT`` socket."""
    from explorec.errors import ConfigError
    from explorec.service.supervisor import reuse_port_available

    if mode == "shared":
        return False
    if reuse_port_available():
        return True
    if mode == "reuseport":
        raise ConfigError(
            "worker_sockets: 'reuseport' needs a kernel that balances SO_REUSEPORT listeners (Linux); "
            "use 'shared' or 'auto' here"
        )
    return False


def _serve_reuse_port(settings: Any) -> int:
    """Run the workers under explorec's supervisor, each on its own socket (see service/supervisor.py)."""
    import uvicorn

    from explorec.service.supervisor import ReusePortSupervisor, bind_worker_sockets

    sockets = bind_worker_sockets(settings.host, settings.port, settings.workers)
    config = uvicorn.Config(WORKER_APP, **_uvicorn_options(settings, factory=True))
    print(
        f"{settings.workers} worker processes, one SO_REUSEPORT socket each, "
        f"on http://{settings.host}:{settings.port}",
        flush=True,
    )
    return ReusePortSupervisor(config, sockets).run()


def _prepare_demo(settings: Any) -> str:
    """Seed the demo store, train its first model version when the registry has none; the admin key."""
    from functools import partial

    from explorec.online.trainer import refit, registry_of
    from explorec.service.demo import seed_demo
    from explorec.service.pseudonym import user_key
    from explorec.store import Store

    store = Store.open(settings.database_url)
    try:
        store.migrate()
        # the demo's users are stored as the service would store them (pseudonyms when configured)
        counts = seed_demo(store, user_key=partial(user_key, settings))
        print(f"demo shop: {counts.items} items, {counts.users} users, {counts.events} events (generated)")
        registry = registry_of(settings)
        if registry.serving() is None:
            attempt = refit(settings, store, registry)
            if attempt["status"] != "promoted":
                print(f"training the demo model failed ({attempt['reason']}); the text model serves")
        serving = registry.serving()
        if serving is not None:
            print(f"serving model: {serving} ({settings.trainer_model}, registry {settings.registry_dir})")
        return store.create_key(scope="admin", name="demo")
    finally:
        store.close()


def _shared_metrics_dir() -> str | None:
    """Give the worker processes one fresh directory for their metrics (prometheus-client's multiprocess
    mode), so that ``/metrics`` on any worker reports the service's totals.

    Returns the directory to remove on exit, or None when ``PROMETHEUS_MULTIPROC_DIR`` was set by the
    operator (then it is theirs: prometheus-client wants it emptied before each start).
    """
    import os

    from explorec.service.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return None
    path = tempfile.mkdtemp(prefix="explorec-metrics-")
    # read by prometheus-client when each worker first imports it (workers are fresh processes)
    os.environ[MULTIPROC_ENV] = path
    return path
