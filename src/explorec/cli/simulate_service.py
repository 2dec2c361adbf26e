"""``explorec simulate --service URL``: simulated users from a real dataset drive a running service.

The world is the simulator's (:class:`explorec.evaluation.simulator.Simulator`): a ground-truth click
model fitted on every interaction of the dataset, position bias ``(j + 1) ** -position_decay`` that
only the world knows, a share of the items held back and released over the run, and what the
service may know at the start (the earliest interactions of each user with the released items).
Here everything goes through the HTTP API:

1. the initial items are posted (``POST /v1/items``, their text from the dataset's catalogue) and the
   observed interactions posted as feedback (type ``history``);
2. an experiment is defined (``PUT /v1/experiments/{name}``), by default greedy against online
   Thompson sampling;
3. users arrive (the simulator's arrival sequence), ask for a slate
   (``GET /v1/users/{id}/recommendations?experiment=NAME``), click with position bias (the
   simulator's common random numbers), and send each click with its ``recommendation_id``; held-back
   items are released through ``POST /v1/items`` on their schedule;
4. at the end the service's report (``GET /v1/experiments/{name}``) gives each variant's click rate
   and its off-policy estimate from the other variants' logs, which are compared with what the
   simulation counted.

Every request goes to a loopback address and their number is bounded by the arguments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: the default experiment: greedy (control) against online Thompson sampling
DEFAULT_VARIANTS: tuple[dict[str, Any], ...] = (
    {"name": "greedy", "share": 0.5, "policy": "greedy"},
    {"name": "ts", "share": 0.5, "policy": "ts"},
)


@dataclass
class _Tally:
    slates: int = 0
    slots: int = 0
    clicks: int = 0
    expected: float = 0.0
    cold_slots: int = 0
    cold_clicks: int = 0


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash; ConfigError unless it names a loopback host over http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
        raise ConfigError(
            f"--service {url!r}: simulated users only drive a service on a loopback address "
            f"({', '.join(LOOPBACK)}), e.g. http://127.0.0.1:8000"
        )
    return url.rstrip("/")


def _check(response: Any, what: str) -> Any:
    if response.status_code != 200:
        raise DataError(f"{what}: the service answered {response.status_code}: {response.text[:300]}")
    return response.json()


def run_service_simulation(
    url: str,
    api_key: str,
    sim: Any,
    texts: Sequence[str],
    *,
    experiment: str = "explore-vs-greedy",
    variants: Sequence[dict[str, Any]] = DEFAULT_VARIANTS,
    n_steps: int | None = None,
    batch: int = 1000,
    timeout_s: float = 60.0,
    progress: bool = False,
    time_limit_s: float | None = None,
) -> dict[str, Any]:
    """Drive the service at ``url`` with the users of ``sim``; returns the run's summary (JSON-ready).

    Parameters
    ----------
    url, api_key : str
        The service (loopback only) and an admin key.
    sim : Simulator
        The world (ground truth, arrivals, click draws, release schedule, observed interactions).
    texts : sequence of str
        The text of each simulated item (aligned with ``sim.items``).
    experiment, variants : str, sequence of dict
        The experiment to define (variants as ``PUT /v1/experiments`` takes them).
    n_steps : int, optional
        Users to simulate (default: ``sim.n_steps``, at most that).
    batch : int
        Items / events per request while seeding.
    time_limit_s : float, optional
        Stop letting users arrive once this many seconds have passed since the start (seeding
        included); the summary's ``steps`` says how many arrived.
    """
    import httpx

    base = check_loopback(url)
    world = sim.world
    gt = sim.ground_truth
    exam = sim.examination
    k = sim.k
    steps = sim.n_steps if n_steps is None else min(int(n_steps), sim.n_steps)
    n_items = len(sim.items)
    if len(texts) != n_items:
        raise DataError(f"texts has {len(texts)} entries for {n_items} simulated items")
    ids = [f"item-{j}" for j in range(n_items)]
    index_of = {item_id: j for j, item_id in enumerate(ids)}
    release = np.asarray(world.release)
    t0 = time.time()
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout_s) as client:
        started = time.perf_counter()
        warm = [j for j in range(n_items) if release[j] < 0]
        for start in range(0, len(warm), batch):
            body = {
                "items": [
                    {"item_id": ids[j], "text": texts[j][:10_000], "timestamp": t0 - 86_400.0}
                    for j in warm[start : start + batch]
                ]
            }
            _check(client.post("/v1/items", json=body), "POST /v1/items")
        obs = world.observed
        order = obs.chronological_order()
        span = float(obs.timestamp.max() - obs.timestamp.min()) if len(obs) and obs.has_timestamps else 0.0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            events = []
            for r in rows.tolist():
                # history keeps its order, squeezed into the day before the run
                offset = (
                    (float(obs.timestamp[r] - obs.timestamp.min()) / span) if span > 0 else r / len(order)
                )
                events.append(
                    {
                        "event_id": f"obs-{r}",
                        "user_id": f"user-{int(obs.user[r])}",
                        "item_id": ids[int(obs.item[r])],
                        "type": "history",
                        "timestamp": t0 - 86_400.0 + 86_000.0 * offset,
                    }
                )
            _check(client.post("/v1/feedback", json={"events": events}), "POST /v1/feedback (history)")
        seeded_s = time.perf_counter() - started
        definition = {"variants": list(variants), "control": variants[0]["name"]}
        _check(client.put(f"/v1/experiments/{experiment}", json=definition), "PUT /v1/experiments")
        tallies: dict[str, _Tally] = {}
        cold_shown: dict[str, set[int]] = {}
        curve: dict[str, list[tuple[int, int, int]]] = {}
        released = 0
        from explorec import progress as bars

        bar = bars.bar(total=steps, desc="simulated users", unit="user", show=progress)
        loop_started = time.perf_counter()
        ran = 0
        for t in range(steps):
            if time_limit_s is not None and time.perf_counter() - started > time_limit_s:
                logger.info("time limit of %.0f s reached after %d of %d users", time_limit_s, t, steps)
                break
            ran = t + 1
            due = np.flatnonzero(release == t)
            if due.size:
                body = {"items": [{"item_id": ids[j], "text": texts[j][:10_000]} for j in due.tolist()]}
                _check(client.post("/v1/items", json=body), "POST /v1/items (release)")
                released += int(due.size)
            user = int(world.users[t])
            answer = _check(
                client.get(
                    f"/v1/users/user-{user}/recommendations", params={"k": k, "experiment": experiment}
                ),
                "GET recommendations",
            )
            rec = client.get(f"/v1/recommendations/{answer['recommendation_id']}")
            variant = _check(rec, "GET /v1/recommendations")["variant"]
            shown = [index_of[i["item_id"]] for i in answer["items"]]
            p = gt.probs(user, np.asarray(shown, dtype=np.int64)) * exam[: len(shown)]
            clicked = world.uniforms[t, : len(shown)] < p
            tally = tallies.setdefault(variant, _Tally())
            tally.slates += 1
            tally.slots += len(shown)
            tally.clicks += int(clicked.sum())
            tally.expected += float(p.sum())
            cold = release[np.asarray(shown, dtype=np.int64)] >= 0
            tally.cold_slots += int(cold.sum())
            tally.cold_clicks += int((cold & clicked).sum())
            cold_shown.setdefault(variant, set()).update(
                int(j) for j, c in zip(shown, cold, strict=True) if c
            )
            curve.setdefault(variant, []).append((t, len(shown), int(clicked.sum())))
            events = [
                {
                    "event_id": f"sim-{t}-{pos}",
                    "user_id": f"user-{user}",
                    "item_id": ids[shown[pos]],
                    "type": "click",
                    "recommendation_id": answer["recommendation_id"],
                }
                for pos in np.flatnonzero(clicked).tolist()
            ]
            if events:
                result = _check(client.post("/v1/feedback", json={"events": events}), "POST /v1/feedback")
                if result["not_learned"]:
                    logger.warning("clicks that updated no policy: %s", result["not_learned"])
            bar.update(1)
        bar.close()
        loop_s = time.perf_counter() - loop_started
        report = _check(client.get(f"/v1/experiments/{experiment}"), "GET /v1/experiments")
    return summarise_run(
        report,
        tallies,
        cold_shown,
        curve,
        steps=ran,
        k=k,
        released=released,
        seeded_s=seeded_s,
        loop_s=loop_s,
    )


def summarise_run(
    report: dict[str, Any],
    tallies: dict[str, _Tally],
    cold_shown: dict[str, set[int]],
    curve: dict[str, list[tuple[int, int, int]]],
    *,
    steps: int,
    k: int,
    released: int,
    seeded_s: float,
    loop_s: float,
) -> dict[str, Any]:
    """Per variant: what the simulation counted next to what the service reported."""
    from explorec.online.experiments import wilson_interval

    by_name = {v["name"]: v for v in report["variants"]}
    control = report["control"]
    out: dict[str, Any] = {"steps": steps, "k": k, "released_items": released, "variants": {}}
    base = tallies.get(control)
    base_rate = base.clicks / base.slots if base is not None and base.slots else None
    for name, tally in tallies.items():
        low, high = wilson_interval(tally.clicks, tally.slots)
        others = (
            set().union(*(s for n, s in cold_shown.items() if n != name)) if len(cold_shown) > 1 else set()
        )
        points = curve.get(name, [])
        chunks = np.array_split(np.arange(len(points)), 10) if points else []
        over_time = [
            {
                "until_step": int(points[c[-1]][0]),
                "clicks_per_1000": 1000.0
                * sum(points[j][2] for j in c)
                / max(sum(points[j][1] for j in c), 1),
            }
            for c in chunks
            if c.size
        ]
        entry = by_name.get(name, {})
        rate = tally.clicks / tally.slots if tally.slots else None
        out["variants"][name] = {
            "slates": tally.slates,
            "impressions": tally.slots,
            "clicks": tally.clicks,
            "clicks_per_1000": None if rate is None else 1000 * rate,
            "clicks_per_1000_ci": [1000 * low, 1000 * high],
            "expected_clicks_per_1000": 1000 * tally.expected / tally.slots if tally.slots else None,
            "lift_vs_control": None
            if rate is None or not base_rate or name == control
            else rate / base_rate - 1,
            "cold_impressions": tally.cold_slots,
            "cold_clicks": tally.cold_clicks,
            "cold_items_shown": len(cold_shown.get(name, set())),
            "cold_items_only_this_variant_showed": len(cold_shown.get(name, set()) - others),
            "clicks_over_time": over_time,
            "service_click_rate": entry.get("click_rate"),
            "service_click_rate_ci": entry.get("click_rate_ci"),
            "off_policy": entry.get("off_policy"),
            "service_state": entry.get("state"),
        }
    out["control"] = control
    out["seeding_s"] = seeded_s
    out["loop_s"] = loop_s
    return out


def format_service_table(summary: dict[str, Any]) -> str:
    """The per-variant lines ``explorec simulate --service`` prints."""
    lines = [
        f"{'variant':<10} {'slates':>7} {'clicks/1000 [95% CI]':>26} {'lift':>7} {'cold imp':>8} "
        f"{'cold only':>9} {'OPE ips / snips [95% CI of snips]':>40}"
    ]
    for name, v in summary["variants"].items():
        rate = v["clicks_per_1000"]
        ci = v["clicks_per_1000_ci"]
        lift = v["lift_vs_control"]
        ope = v["off_policy"]
        ope_text = "-"
        if ope:
            sn = ope["snips"]
            ope_text = (
                f"{1000 * ope['ips']['value']:.1f} / {1000 * sn['value']:.1f} "
                f"[{1000 * sn['ci'][0]:.1f}, {1000 * sn['ci'][1]:.1f}]"
            )
        lines.append(
            f"{name:<10} {v['slates']:>7} {rate:>10.1f} [{ci[0]:6.1f}, {ci[1]:6.1f}] "
            f"{'' if lift is None else f'{100 * lift:+.1f}%':>7} {v['cold_impressions']:>8} "
            f"{v['cold_items_only_this_variant_showed']:>9} {ope_text:>40}"
        )
    return "\n".join(lines)
