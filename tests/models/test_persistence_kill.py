"""A save killed (SIGKILL) at random instants leaves the old complete model or the new complete one."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import DataError
from explorec.models.base import Recommender
from explorec.models.ease import EASE

ITERATIONS = 60
TIME_LIMIT_S = 120.0


def _data() -> Interactions:
    rng = np.random.default_rng(0)
    n_users, n_items = 200, 400  # a 640 kB weight matrix: a save takes ~0.1 s, long enough to interrupt
    return Interactions.from_arrays(
        rng.integers(0, n_users, 3000),
        rng.integers(0, n_items, 3000),
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[f"i{i}" for i in range(n_items)],
    )


def _child_saves_forever(models: list[EASE], target: Path, ready: int) -> None:
    """Save ``models`` in turn until killed, writing a byte to the pipe ``ready`` after each save."""
    try:
        while True:
            for model in models:
                model.save(target)
                os.write(ready, b".")
    finally:
        os._exit(0)


def test_kill_during_save_never_leaves_a_broken_model(tmp_path: Path) -> None:
    data = _data()
    models = [EASE(l2=1.0).fit(data), EASE(l2=2.0).fit(data)]
    users = np.arange(0, data.n_users, 7)
    expected = {m.l2: m.score(users) for m in models}
    target = tmp_path / "model"
    models[0].save(target)  # the old, good model
    start = time.perf_counter()
    save_seconds = time.perf_counter()
    models[1].save(target)
    save_seconds = time.perf_counter() - save_seconds
    rng = np.random.default_rng(20261201)
    outcomes = {1.0: 0, 2.0: 0}
    interrupted = 0
    done = 0
    for _ in range(ITERATIONS):
        if time.perf_counter() - start > TIME_LIMIT_S:
            break
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child_saves_forever(models[::-1] if done % 2 else models, target, write_end)
        os.close(write_end)
        # wait for the child's first complete save (a loaded machine can take longer to start the
        # child than a save takes), so that both models become the survivor in turn
        readable, _, _ = select.select([read_end], [], [], 30.0)
        first_saved = bool(readable) and os.read(read_end, 1) == b"."
        time.sleep(rng.uniform(0.0, 3.0 * save_seconds))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read_end)
        assert first_saved, "the saving child did not finish a first save within 30 s"
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        debris = [p.name for p in target.iterdir() if p.name.startswith((".tmp-", ".CURRENT."))]
        interrupted += bool(debris)
        try:
            loaded = Recommender.load(target)
        except DataError as exc:  # pragma: no cover - this is the failure the test exists to catch
            pytest.fail(f"after a kill, the folder does not load: {exc}")
        l2 = float(loaded.get_params()["l2"])
        assert l2 in expected
        np.testing.assert_array_equal(loaded.score(users), expected[l2])
        outcomes[l2] += 1
        done += 1
    print(f"kills={done} interrupted_saves={interrupted} survivors={outcomes} save={save_seconds:.3f}s")
    assert done >= 20, f"only {done} kills within {TIME_LIMIT_S}s"
    # the kills landed in the middle of saves, and both models were seen as the survivor
    assert interrupted >= 5, interrupted
    assert min(outcomes.values()) >= 3, outcomes
