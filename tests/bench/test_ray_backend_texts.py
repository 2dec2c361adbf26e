"""bench/ray_backend.py's benchmark texts: real catalogue text recombined, seeded and distinct."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the script imports bench/_provenance.py by name
    environ = dict(os.environ)  # it sets Ray and Hugging Face variables for its own run
    try:
        spec = importlib.util.spec_from_file_location("ray_backend", BENCH / "ray_backend.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
        os.environ.clear()
        os.environ.update(environ)
    return module


BASE = [
    "eSUN PLA filament 1.75mm 1kg. Industrial & Scientific 3D Printing Filament. eSUN.",
    "Digital pH meter pen. Industrial & Scientific Lab Instruments. Apera.",
    "Nitrile gloves, box of 100. Industrial & Scientific Safety. Medline.",
    "no brand text",
]


def test_recombined_texts_are_the_real_ones_then_distinct_seeded_recombinations() -> None:
    bench = _module()
    texts = bench.recombined_texts(BASE, 40, seed=0)
    assert len(texts) == 40 and texts[:4] == BASE and len(set(texts)) == 40
    assert texts == bench.recombined_texts(BASE, 40, seed=0)
    assert texts != bench.recombined_texts(BASE, 40, seed=1)
    assert bench.recombined_texts(BASE, 2) == BASE[:2]
    words = {w for t in BASE for w in t.replace(".", " ").split()}
    for text in texts[4:]:
        # "<title>. <categories>. <brand>." built from the real parts only
        assert text.endswith(".") and set(text.replace(".", " ").split()) <= words, text
    assert bench._parts(BASE[1]) == (
        ["Digital", "pH", "meter", "pen"],
        "Industrial & Scientific Lab Instruments",
        "Apera",
    )
    assert bench._parts("no brand text") == (["no", "brand", "text"], "", "")
