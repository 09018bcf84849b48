"""K = 2 local workers against one: wall time of the demo's search to the same trial count.

Run: .venv/bin/python benchmarks/bench_workers.py [--trials 40]

Both runs use the demo config (MNIST-5k, 40% noise, SmallCNN, E_s = 15, E_o = 5, GP) and
the machine's two cores: one process with two torch threads and SQLite, or two worker
processes with one thread each and a JournalStorage file. The shared start is trained in
each run (it is part of the wall time). Also reports the storage-and-proposal overhead per
trial ("outer" seconds) of each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    from swift_sampler.demo import demo_config

    config = demo_config()
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, trials=args.trials)
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.toml"
        path.write_text(config.to_toml())
        for workers, threads in ((1, 2), (2, 2)):
            run_dir = Path(tmp) / f"run{workers}"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "swift_sampler.cli",
                    "--threads",
                    str(threads),
                    "search",
                    str(path),
                    "--run-dir",
                    str(run_dir),
                    "--workers",
                    str(workers),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            result = json.loads((run_dir / "result.json").read_text())
            done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
            outer = [t["seconds"]["outer"] for t in done]
            rows.append(
                (workers, wall, result["best"]["val_score"], statistics.median(outer), len(done))
            )
    print(f"demo search, {args.trials} trials")
    for workers, wall, best, outer, count in rows:
        print(
            f"workers {workers}: wall {wall:6.1f} s, {count} trials, best val {best:.3f}, "
            f"median outer/storage {outer:.3f} s per trial"
        )
    print(f"speed-up of 2 workers: {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
