"""Scale-out on this machine: PostgreSQL workers against journal workers, torchrun against one
process.

Run: .venv/bin/python benchmarks/bench_cluster.py [--trials 40] [--candidates 4]

1. Storage. The demo's search (MNIST-5k, 40% noise, SmallCNN, E_s = 15, E_o = 5, GP) with two
   trial processes of one torch thread each, side by side in the same run:
   ``search --workers 2`` on a JournalStorage file, and two ``swift-sampler worker`` processes
   on a throwaway PostgreSQL cluster (the tests' one; heartbeat 10 s). Reports the wall time to
   the trial budget (shared start included) and the median outer-loop + storage seconds per
   trial (claim, proposal, writes).
2. Data-parallel trials. The demo's inner loop scoring the same candidates, in one process with
   two threads and under ``torchrun --nproc_per_node=2`` (gloo, one thread per rank): seconds
   per candidate and the validation scores (which must agree).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRIAL_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from swift_sampler import distributed
from swift_sampler.config import load_config
from swift_sampler.search.objective import InnerLoop
from swift_sampler.search.setup import build_experiment, template_spec

distributed.init_from_env()
torch.set_num_threads(int(sys.argv[3]))
config = load_config(sys.argv[1])
trainer = build_experiment(config).trainer
s = config.search
inner = InnerLoop(trainer, shared_epochs=s.shared_epochs, finetune_epochs=s.finetune_epochs,
                  schedule=s.finetune_schedule, seed=s.seed)
t0 = time.perf_counter()
inner.train_shared_start(None)
shared = time.perf_counter() - t0
spec0 = template_spec(config)
rng = np.random.default_rng(0)
rows = []
for k in range(int(sys.argv[4])):
    theta = rng.uniform(0.2, 0.8, spec0.num_params)
    score = inner.evaluate(spec0.with_theta(theta))
    rows.append({"seconds": score.total_seconds, "val": score.score,
                 "features": score.feature_seconds, "train": score.train_seconds})
if distributed.rank() == 0:
    Path = __import__("pathlib").Path
    Path(sys.argv[2]).write_text(json.dumps({"shared_s": shared, "trials": rows}))
"""


def _storage_runs(config_path: Path, tmp: Path, trials: int) -> list[tuple[str, float, float]]:
    sys.path.insert(0, str(ROOT / "tests" / "search"))
    from conftest import postgres_cluster  # the tests' throwaway cluster

    cli = [sys.executable, "-m", "swift_sampler.cli", "--threads", "1"]
    rows = []
    start = time.perf_counter()
    subprocess.run(
        [
            *cli[:-1],
            "2",
            "search",
            str(config_path),
            "--run-dir",
            str(tmp / "journal"),
            "--workers",
            "2",
        ],
        check=True,
        capture_output=True,
    )
    rows.append(
        ("2 workers, JournalStorage", time.perf_counter() - start, _outer(tmp / "journal"))
    )
    with postgres_cluster() as url:
        start = time.perf_counter()
        worker = [
            *cli,
            "worker",
            "--storage",
            url,
            "--study",
            "bench",
            "--run-dir",
            str(tmp / "pg"),
            "--config",
            str(config_path),
        ]
        procs = [subprocess.Popen(worker, stdout=subprocess.DEVNULL) for _ in range(2)]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"a worker failed with exit code {p.returncode}")
        rows.append(("2 workers, PostgreSQL", time.perf_counter() - start, _outer(tmp / "pg")))
    return rows


def _outer(run_dir: Path) -> float:
    result = json.loads((run_dir / "result.json").read_text())
    done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    return statistics.median(t["seconds"]["outer"] for t in done)


def _trial_runs(config_path: Path, tmp: Path, candidates: int) -> dict[str, dict]:
    script = tmp / "trial.py"
    script.write_text(TRIAL_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = {}
    one = tmp / "one.json"
    subprocess.run(
        [sys.executable, str(script), str(config_path), str(one), "2", str(candidates)],
        check=True,
        env=env,
    )
    out["1 process x 2 threads"] = json.loads(one.read_text())
    two = tmp / "two.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(config_path),
            str(two),
            "1",
            str(candidates),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    out["torchrun 2 ranks x 1 thread (gloo)"] = json.loads(two.read_text())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--skip-storage", action="store_true")
    args = parser.parse_args()
    from swift_sampler.demo import demo_config

    config = demo_config()
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, trials=args.trials)
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        config_path = tmp / "demo.toml"
        config_path.write_text(config.to_toml())
        trials = _trial_runs(config_path, tmp, args.candidates)
        storage = [] if args.skip_storage else _storage_runs(config_path, tmp, args.trials)
    print(f"demo inner loop, {args.candidates} candidates (E_s = 15 shared, E_o = 5 each)")
    base = None
    for label, data in trials.items():
        per = statistics.median(t["seconds"] for t in data["trials"])
        base = base or per
        vals = [round(t["val"], 4) for t in data["trials"]]
        print(
            f"  {label:36s} shared start {data['shared_s']:6.1f} s, median {per:5.1f} s per "
            f"candidate ({base / per:.2f}x), val {vals}"
        )
    if storage:
        print(f"demo search, {args.trials} trials, 2 trial processes x 1 thread")
        for label, wall, outer in storage:
            print(f"  {label:28s} wall {wall:6.1f} s, median outer + storage {outer:.3f} s/trial")


if __name__ == "__main__":
    main()
