"""The service's configuration: one pydantic-settings class, read from a TOML file plus environment.

Precedence (highest first): keyword arguments, ``EXPLOREC_<FIELD>`` environment variables (e.g.
``EXPLOREC_DATABASE_URL``, ``EXPLOREC_RATE_LIMIT``), the TOML file, the defaults below. A TOML key
that is not a field, or a value outside its range, is a ``ConfigError`` naming the file, the field,
the allowed values and the value received.

Example ``explorec.toml``::

    database_url = "sqlite:///var/explorec/explorec.db"
    encoder = "default"          # the packaged all-MiniLM-L6-v2
    policy = "eps-greedy:0.1"
    rerank = "mmr:0.3"
    rate_limit = "200/second"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from explorec.errors import ConfigError

#: exploration policies a request may ask for (their propensities need no learned state)
REQUEST_POLICIES = ("greedy", "eps-greedy", "softmax")
#: re-rankers a request may ask for (they need only the item vectors)
REQUEST_RERANKERS = ("mmr", "dpp")


#: the models the trainer can refit (``explorec.online.trainer.SERVABLE_MODELS``)
TrainerModel = Literal["popularity", "itemknn", "ease", "ease-ipw", "textknn", "lm-adapter", "fusion"]


class ServiceSettings(BaseSettings):
    """Everything ``explorec serve`` can be configured with."""

    # hide_input_in_errors: a refused pseudonymise_secret must not be printed by pydantic's message
    model_config = SettingsConfigDict(
        env_prefix="EXPLOREC_", extra="forbid", validate_default=True, hide_input_in_errors=True
    )

    database_url: str = Field(
        "sqlite:///explorec.db",
        description="SQLAlchemy URL of the store: sqlite:///FILE (WAL) or postgresql+psycopg://...",
    )
    host: str = Field("127.0.0.1", description="address uvicorn binds (loopback unless configured)")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1, ge=1, le=64, description="uvicorn worker processes sharing the port (each a replica of the store)"
    )
    worker_sockets: Literal["auto", "reuseport", "shared"] = Field(
        "auto",
        description="with workers > 1: one SO_REUSEPORT socket per worker, the kernel spreading "
        "connections over them (reuseport, Linux), or uvicorn's one socket shared by all (shared); "
        "auto: reuseport where the platform has it",
    )
    compute_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="threads of a worker process that build slates at once; more only fight over the "
        "GIL (8 connections on one worker: 40 threads cost 1.3-1.7x the CPU per request of 1); use workers "
        "for cores",
    )
    access_log: bool = Field(True, description="uvicorn's one line per request (costs CPU at high rates)")
    encoder: str = Field(
        "default",
        description="text encoder spec: default (all-MiniLM-L6-v2), minilm-onnx-int8 (the same model "
        "as int8 ONNX on onnxruntime), hashing:DIM",
    )
    policy: str = Field("eps-greedy:0.1", description="default exploration policy spec")
    rerank: str | None = Field("mmr:0.3", description="default re-ranker spec (None: no re-ranking)")
    k_default: int = Field(10, ge=1, le=100, description="slate length when the request gives no k")
    n_candidates: int = Field(100, ge=1, le=10_000, description="candidates given to re-ranker and policy")
    history_length: int = Field(50, ge=1, le=10_000, description="most recent events per user served")
    recent_items: int = Field(5, ge=1, le=100, description="recent items that seed item-to-item fallback")
    index: Literal["auto", "exact", "faiss"] = Field(
        "auto", description="retrieval index: exact BLAS, FAISS, or chosen by catalogue size"
    )
    faiss_min_items: int = Field(50_000, ge=1, description="with index=auto, FAISS from this many items")
    faiss_kind: Literal["hnsw", "ivf", "sq8", "ivf-sq8", "hnsw-sq8", "ivf-pq"] = Field(
        "hnsw", description="FAISS index kind; sq8, ivf-sq8, hnsw-sq8 (int8 codes), ivf-pq (product codes)"
    )
    faiss_ef_search: int = Field(128, ge=1, le=4096, description="HNSW candidate list size at search")
    faiss_nprobe: int = Field(16, ge=1, le=4096, description="IVF lists visited per query")
    faiss_pq_m: int | None = Field(
        None, ge=1, le=4096, description="ivf-pq bytes per item (divides the vector length; None: dim/4)"
    )
    max_body_bytes: int = Field(8 * 2**20, ge=1024, description="larger request bodies get 413")
    max_batch: int = Field(1000, ge=1, le=10_000, description="larger batches get 413")
    rate_limit: str = Field("2000/second", description="per-key limit, e.g. '100/second', '5000/minute'")
    open_health: bool = Field(True, description="/healthz and /readyz without a key")
    open_metrics: bool = Field(True, description="/metrics without a key (else an admin key)")
    refresh_interval_s: float = Field(
        1.0, ge=0.05, le=3600, description="how often a replica reads other replicas' writes"
    )
    catalogue_reload_s: float = Field(
        300.0, ge=0.1, le=86_400, description="how often every item is re-read (deletions by other replicas)"
    )
    key_cache_s: float = Field(10.0, ge=0, le=3600, description="seconds a verified key is trusted")
    seed: int = Field(0, ge=0, description="seed mixed into every slate's policy seed")
    online_interval_s: float = Field(
        0.2, ge=0.01, le=60, description="how often a replica replays new feedback into the policy state"
    )
    feedback_window_s: float = Field(
        86_400.0, gt=0, description="feedback later than this after its slate updates no policy (expired)"
    )
    blas_threads: int | None = Field(
        1, ge=1, le=256, description="BLAS/OpenMP threads per process (None: the libraries' default)"
    )

    # the web dashboard at /dashboard (issue 14)
    dashboard: bool = Field(True, description="serve the web dashboard at /dashboard")
    dashboard_secret: str | None = Field(
        None,
        min_length=32,
        description="signs and encrypts the dashboard's session cookies; unset: a random secret per "
        "process (sessions end when it stops and are not valid on other replicas)",
    )
    dashboard_session_s: int = Field(
        8 * 3600, ge=60, le=30 * 86_400, description="a dashboard login lasts this long (cookie Max-Age)"
    )
    dashboard_secure_cookie: bool = Field(
        False, description="mark the session cookie Secure (only sent over HTTPS): set it behind TLS"
    )

    # the model registry and the background trainer (issue 13): off unless registry_dir is set
    registry_dir: str | None = Field(
        None, description="model registry folder: versions served from it when set (shared by replicas)"
    )
    model_poll_s: float = Field(1.0, ge=0.01, le=3600, description="how often the registry pointer is read")
    trainer: bool = Field(False, description="explorec serve also starts the background trainer process")
    trainer_interval_s: float = Field(3600.0, ge=1, le=7 * 86_400, description="seconds between refits")
    trainer_poll_s: float = Field(1.0, ge=0.01, le=3600, description="how often the trainer reads requests")
    trainer_model: TrainerModel = Field(
        "ease",
        description="model refitted on the store's events (one that scores from the history; textknn, "
        "lm-adapter and fusion's text components also read the items' texts, with the service's encoder)",
    )
    trainer_params: dict[str, Any] = Field(default_factory=dict, description="its hyper-parameters")
    trainer_metric: str = Field("ndcg@10", description="offline metric on held-out events that gates swaps")
    trainer_margin: float = Field(
        0.0, ge=0, le=1, description="refits worse than the serving one by more are not swapped in"
    )
    trainer_min_events: int = Field(10, ge=1, description="fewer usable events fail the refit")

    # pseudonymised user ids (issue 16 part 4): off unless a secret is set
    pseudonymise_secret: SecretStr | None = Field(
        None,
        description="with a secret of at least 32 bytes, user ids are replaced by HMAC-SHA256 pseudonyms "
        "at the edge (never logged; rotating it orphans the stored history)",
    )

    @field_validator("pseudonymise_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from explorec.service.pseudonym import MIN_SECRET_BYTES

        if value is not None and len(value.get_secret_value().encode("utf-8")) < MIN_SECRET_BYTES:
            n = len(value.get_secret_value().encode("utf-8"))
            raise ValueError(f"the secret must be at least {MIN_SECRET_BYTES} bytes long, got {n} bytes")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"expected e.g. '100/second' or '5000/minute', got {value!r}") from None
        return value

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        from explorec.policies.spec import ALIASES

        name = value.split(":", 1)[0].strip()
        if ALIASES.get(name, name) not in REQUEST_POLICIES:
            raise ValueError(f"policy must be one of {', '.join(REQUEST_POLICIES)}, got {value!r}")
        return value

    @field_validator("rerank")
    @classmethod
    def _check_rerank(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none"):
            return None
        for part in value.split(","):
            name = part.split(":", 1)[0].strip()
            if name not in REQUEST_RERANKERS:
                raise ValueError(f"rerank must combine {', '.join(REQUEST_RERANKERS)}, got {value!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from ``config_file`` (TOML), the environment and ``overrides``.

    Raises
    ------
    FileNotFoundError
        When ``config_file`` does not exist.
    ConfigError
        On malformed TOML or an invalid field, naming the file and the field.
    """
    source = "settings"
    klass: type[ServiceSettings] = ServiceSettings
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: configuration file not found")
        source = str(path)
        # a subclass that names the file: pydantic-settings reads toml_file from model_config
        klass = type(
            "ServiceSettings",
            (ServiceSettings,),
            {"model_config": SettingsConfigDict(toml_file=path), "__module__": __name__},
        )
    try:
        return klass(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per invalid field: ``field: message (got value)``."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(root)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"unknown field; known fields: {', '.join(ServiceSettings.model_fields)}"
        if err["loc"] and err["loc"][0] == "pseudonymise_secret":
            parts.append(f"field {field!r}: {message} (the value is not shown)")
            continue
        parts.append(f"field {field!r}: {message} (got {err.get('input')!r})")
    return "; ".join(parts)
