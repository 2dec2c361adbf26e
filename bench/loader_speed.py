"""Wall time of loading each registered real dataset (parse + checks + vocabularies + catalogue + split).

Every dataset is loaded once to warm the page cache, then ``--repeats`` times in turn (round robin, so
that load from other processes spreads evenly); the medians of wall time and of this process's CPU
time are reported (CPU time is the steadier number on a shared machine). Prints the settings with the
numbers and writes ``bench/results/loader_speed.json``.

Run: ``python bench/loader_speed.py [--data-dir /path/to/datasets --repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from _provenance import Provenance
from explorec.data.registry import DATASETS, load_dataset, missing_files


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results/loader_speed.json")
    args = parser.parse_args()

    names = [n for n, s in DATASETS.items() if s.folder is not None and not missing_files(n, args.data_dir)]
    facts = {}
    for name in names:
        dataset = load_dataset(name, data_dir=args.data_dir)
        data = dataset.interactions
        facts[name] = {"interactions": len(data), "users": data.n_users, "items": data.n_items}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            start, start_cpu = time.perf_counter(), time.process_time()
            load_dataset(name, data_dir=args.data_dir)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)

    settings = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "repeats": args.repeats,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print("settings:", json.dumps(settings))
    print(
        f"{'dataset':<24} {'events':>8} {'users':>7} {'items':>7} {'wall med s':>10} {'wall min s':>10} "
        f"{'cpu med s':>9}"
    )
    rows = []
    for name in names:
        med, low, cpu_med = statistics.median(seconds[name]), min(seconds[name]), statistics.median(cpu[name])
        print(
            f"{name:<24} {facts[name]['interactions']:>8} {facts[name]['users']:>7} "
            f"{facts[name]['items']:>7} {med:>10.3f} {low:>10.3f} {cpu_med:>9.3f}"
        )
        rows.append(
            {
                "dataset": name,
                **facts[name],
                "wall_median_s": med,
                "wall_min_s": low,
                "cpu_median_s": cpu_med,
                "wall_all_s": seconds[name],
            }
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"settings": settings, "results": rows, "provenance": prov.finish()}, indent=2) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
