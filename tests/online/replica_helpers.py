"""Settings of the service replicas that the two-replica tests start against one store."""

from __future__ import annotations

from explorec.service.settings import ServiceSettings


def replica_settings(url: str) -> ServiceSettings:
    """A replica on ``url`` that follows the store every 0.1 s (served state and online learner),
    greedy unless a request asks otherwise, with a rate limit no test reaches."""
    return ServiceSettings(
        database_url=url,
        encoder="hashing:64",
        refresh_interval_s=0.1,
        online_interval_s=0.1,
        rate_limit="100000/minute",
        policy="greedy",
    )
