"""bench/audit_docs.py: which results files are not tied to a commit."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"
RECORD = {"git": {"commit": "a" * 40, "dirty": False}, "load_average_start": [1.5, 1.0, 1.0]}


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_docs", BENCH / "audit_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_docs"] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


def _write(folder: Path, name: str, doc: object) -> None:
    (folder / name).write_text(json.dumps(doc))


def test_gaps_name_files_without_a_record_and_merged_entries_without_their_own(tmp_path: Path) -> None:
    audit = _module()
    _write(tmp_path, "tied.json", {"runs": {"a": {"x": 1}}, "provenance": RECORD})
    _write(tmp_path, "old.json", {"runs": {"a": {"x": 1}}})
    _write(tmp_path, "per_entry.json", {"runs": {"a": {"provenance": RECORD}, "b": {"provenance": RECORD}}})
    # merged by --append: the top-level record is the last invocation's, not the older entry's
    _write(
        tmp_path,
        "merged.json",
        {"datasets": {"new": {"provenance": RECORD}, "older": {"x": 1}}, "provenance": RECORD},
    )
    _write(tmp_path, "list.json", [1, 2])
    gaps = dict(audit.provenance_gaps(tmp_path))
    assert gaps == {
        "list.json": "no provenance record",
        "merged.json": "entries without a record of their own: datasets/older",
        "old.json": "no provenance record",
    }


def test_provenance_column_reads_the_commit_and_counts_untied_entries() -> None:
    audit = _module()
    record, untied = audit.record_and_gaps({"runs": {"a": {"provenance": RECORD}, "b": {}}})
    assert record == RECORD and untied == ["runs/b"]
    assert audit.record_and_gaps({"settings": {}}) == (None, [])
