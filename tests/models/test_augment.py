"""Augmentations and NT-Xent against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorec.errors import ConfigError
from explorec.models.augment import crop, info_nce, mask, reorder


def test_nt_xent_by_hand() -> None:
    # views v0=(1,0), v1=(0,1) and their copies v2=(1,0), v3=(0,1); tau = 1
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # anchor v0: positive v2 (cos 1), negatives v1, v3 (cos 0): -log(e / (e + 2)); all anchors alike
    assert float(info_nce(z, z, 1.0)) == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)
    # positives swapped: anchor v0's positive is (0,1) (cos 0), negatives v1 (cos 0) and v3 (cos 1)
    swapped = z.flip(0)
    assert float(info_nce(z, swapped, 1.0)) == pytest.approx(math.log(2 + math.e), rel=1e-6)
    # the temperature divides the cosines, and the norms do not matter
    assert float(info_nce(3 * z, z, 0.5)) == pytest.approx(math.log(1 + 2 / math.e**2), rel=1e-6)
    with pytest.raises(ConfigError, match="cl_temperature must be > 0"):
        info_nce(z, z, 0.0)


def test_operators_keep_what_they_promise() -> None:
    rng = np.random.default_rng(3)
    seq = np.arange(1, 11)
    cropped = crop(seq, 0.5, rng)
    assert cropped.size == 5 and np.all(np.diff(cropped) == 1)  # contiguous
    masked = mask(seq, 0.3, rng, token=0)
    assert int((masked == 0).sum()) == 3 and np.array_equal(masked[masked != 0], seq[masked != 0])
    shuffled = reorder(seq, 0.6, rng)
    changed = np.flatnonzero(shuffled != seq)
    assert sorted(shuffled.tolist()) == seq.tolist()
    assert changed.size == 0 or changed.max() - changed.min() < 6  # within one window of 6
    assert crop(np.array([4]), 0.1, rng).tolist() == [4]  # never empty
