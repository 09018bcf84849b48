"""Training under torch.distributed: real ``torchrun`` with 2 CPU processes on gloo.

The same script runs once in a single process and once under ``torchrun --nproc_per_node=2``;
the two must agree: the ranks' draws partition the single-process draw, the gathered feature
table equals the single-process pass, and a fine-tune ends at the same validation accuracy
(the data-parallel step sees the same instances; only the order of float additions differs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

SCRIPT = r"""
import json, sys
import numpy as np, torch
from swift_sampler import distributed
from swift_sampler.config import parse_config
from swift_sampler.sampler import SwiftSampler
from swift_sampler.search.objective import InnerLoop
from swift_sampler.search.setup import build_experiment, template_spec

torch.set_num_threads(1)
distributed.init_from_env()
config = parse_config({
    "data": {"name": "digits", "noise_rate": 0.3},
    "model": {"name": "mlp"},
    "train": {"epochs": 6, "lr": 0.1, "batch_size": 64},
    "search": {"shared_epochs": 2, "finetune_epochs": 2},
})
trainer = build_experiment(config).trainer
state = trainer.new_state(0)
loss = trainer.train_epoch(state)  # uniform: the seeded permutation, striped
features = trainer.features(state, ("loss", "er"))
p = features[:, 0].astype(np.float64) + 0.05
with_replacement = [int(i) for i in SwiftSampler(p, seed=3)]
without = [int(i) for i in SwiftSampler(p, replacement=False, seed=3)]
inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=2, seed=0)
inner.train_shared_start(None)
spec = template_spec(config).with_theta(np.linspace(0.1, 0.9, 10))
score = inner.evaluate(spec)
uniform_val = trainer.score(state, "val")  # a collective: every rank calls it
draws = [(with_replacement, without)]
if distributed.world_size() > 1:
    draws = [None] * distributed.world_size()
    torch.distributed.all_gather_object(draws, (with_replacement, without))
if distributed.rank() == 0:
    out = {
        "world": distributed.world_size(),
        "loss": loss,
        "features": features.tolist(),
        "draws": draws,
        "uniform_val": uniform_val,
        "finetune_val": score.score,
    }
else:
    out = {"features": features.tolist(), "finetune_val": score.score}
with open(f"{sys.argv[1]}.{distributed.rank()}.json", "w") as f:
    json.dump(out, f)
distributed.leave(wait=True)
distributed.exit_process(0)  # else a rank can abort at exit (gloo's threads)
"""

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *args,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("dist")
    script = root / "script.py"
    script.write_text(SCRIPT)
    single = subprocess.run(
        [sys.executable, str(script), str(root / "single")],
        env=ENV,
        capture_output=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr.decode()[-3000:]
    two = subprocess.run(
        _torchrun(str(script), str(root / "two")), env=ENV, capture_output=True, timeout=600
    )
    assert two.returncode == 0, two.stderr.decode()[-3000:]
    read = lambda name: json.loads((root / name).read_text())  # noqa: E731
    return {
        "single": read("single.0.json"),
        "two": read("two.0.json"),
        "rank1": read("two.1.json"),
    }


@pytest.mark.slow
def test_ranks_partition_the_single_process_draw(runs: dict[str, dict]) -> None:
    single, two = runs["single"], runs["two"]
    assert two["world"] == 2 and single["world"] == 1
    ((ref_with, ref_without),) = single["draws"]
    (r0_with, r0_without), (r1_with, r1_without) = two["draws"]
    # The probabilities came from each run's own (gathered) features, which agree to float
    # precision, so the draws are the same global draw striped: rank r holds positions r::2.
    n = len(ref_without)
    assert sorted(ref_without) == list(range(n))
    assert set(r0_without).isdisjoint(r1_without)
    assert sorted(r0_without + r1_without) == list(range(n))
    interleaved = [None] * (len(r0_without) + len(r1_without))
    interleaved[0::2], interleaved[1::2] = r0_without, r1_without
    assert interleaved == ref_without
    assert r0_with == ref_with[0::2][: len(r0_with)] and r1_with == ref_with[1::2]


@pytest.mark.slow
def test_gathered_features_equal_a_single_process_pass(runs: dict[str, dict]) -> None:
    single = np.array(runs["single"]["features"])
    rank0, rank1 = np.array(runs["two"]["features"]), np.array(runs["rank1"]["features"])
    assert rank0.shape == single.shape == (single.shape[0], 2)
    np.testing.assert_array_equal(rank0, rank1)  # every rank holds the same table
    # One data-parallel epoch sums the gradients in another order (measured: 5e-7 apart).
    np.testing.assert_allclose(rank0, single, atol=1e-5)
    assert runs["two"]["loss"] == pytest.approx(runs["single"]["loss"], abs=1e-5)


@pytest.mark.slow
def test_two_process_finetune_matches_single_process(runs: dict[str, dict]) -> None:
    single, two = runs["single"], runs["two"]
    # Stated tolerance: one percentage point of validation accuracy (measured: equal).
    assert two["uniform_val"] == pytest.approx(single["uniform_val"], abs=0.01)
    assert two["finetune_val"] == pytest.approx(single["finetune_val"], abs=0.01)
    assert runs["rank1"]["finetune_val"] == two["finetune_val"]  # scores are summed over ranks


CONFIG = """
[data]
name = "digits"
noise_rate = 0.3
[model]
name = "mlp"
[train]
epochs = 6
lr = 0.1
[search]
trials = 3
startup_trials = 2
shared_epochs = 2
finetune_epochs = 2
"""


@pytest.mark.slow
def test_search_under_torchrun_scores_like_one_process(tmp_path: Path) -> None:
    import optuna

    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    cli = ["-m", "swift_sampler.cli", "--threads", "1", "search", str(config), "--run-dir"]
    one = subprocess.run(
        [sys.executable, *cli, str(tmp_path / "one")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        _torchrun(*cli, str(tmp_path / "two")),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("best validation score") == 1  # only rank 0 reports

    def trials(run: str) -> dict[int, optuna.trial.FrozenTrial]:
        study = optuna.load_study(
            study_name="swift-sampler", storage=f"sqlite:///{tmp_path / run / 'study.db'}"
        )
        done = study.get_trials(states=(TrialState.COMPLETE,))
        return {t.user_attrs["slot"]: t for t in done}

    a, b = trials("one"), trials("two")
    assert sorted(a) == sorted(b) == [0, 1, 2]
    # Slots 0 (uniform) and 1 (first Sobol point) do not depend on earlier scores: same theta,
    # so the same score within the stated tolerance.
    for slot in (0, 1):
        assert a[slot].params == b[slot].params
        assert b[slot].value == pytest.approx(a[slot].value, abs=0.01)
    assert (tmp_path / "two" / "figure1.npz").is_file()
    assert not [p.name for p in (tmp_path / "two").iterdir() if p.name.startswith(".shared")]


FAILING = r"""
from swift_sampler import distributed

distributed.init_from_env()


class Target:
    def boom(self):
        if distributed.rank() == 0:
            raise RuntimeError("rank 0 fails in the middle of a call")
        distributed.sum_across([1.0])  # a collective rank 0 never joins


target = Target()
if distributed.rank() == 0:
    try:
        distributed.Lockstep(target).boom()
    finally:
        distributed.release_followers()  # must not block: the followers are not listening
else:
    distributed.Lockstep(target).follow()
"""


@pytest.mark.slow
def test_a_rank_0_failure_mid_call_ends_the_job_instead_of_hanging(tmp_path: Path) -> None:
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    # A deadlock would run into the timeout (the process group's own timeout is 12 hours).
    run = subprocess.run(
        _torchrun(str(script)), env=ENV, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "rank 0 fails in the middle of a call" in run.stderr


@pytest.mark.slow
def test_a_bad_config_under_torchrun_is_one_message_from_rank_0(tmp_path: Path) -> None:
    # Rank 0 refuses the config before any inner loop exists and releases the followers as
    # failed: they leave without waiting at the final barrier for a rank that never comes
    # (before, rank 1 added "internal error: ... Connection reset by peer").
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.replace("startup_trials = 2", "startup_trials = 8"))
    cli = ["-m", "swift_sampler.cli", "--threads", "1", "search", str(config), "--run-dir"]
    run = subprocess.run(
        _torchrun(*cli, str(tmp_path / "r")), env=ENV, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "failed (exitcode: 2) local_rank: 0" in run.stderr  # rank 0's input error, exit 2
    assert run.stderr.count("search.startup_trials: must be <= search.trials (3), got 8") == 1
    assert "internal error" not in run.stderr and "Connection reset" not in run.stderr
    assert not (tmp_path / "r").exists()


def _one_rank_env() -> dict[str, str]:
    """A one-rank gloo group as torchrun describes it, standard output buffered (os._exit drops
    what sits in Python's buffers, and a pipe is fully buffered)."""
    from _net import free_port

    port = free_port()
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}
    one = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    return env | one | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def test_exit_process_says_everything_before_it_skips_the_teardown() -> None:
    # In a process that joined a group: without the flush, "partial" (no newline) would be lost.
    code = (
        "import logging, sys\n"
        "from swift_sampler import distributed\n"
        "distributed.init_from_env()\n"
        "distributed.leave(wait=True)\n"
        "logging.basicConfig(stream=sys.stderr, format='%(message)s')\n"
        "sys.stdout.write(f'partial joined={distributed.joined()}')\n"
        "logging.getLogger('job').warning('logged last')\n"
        "import atexit; atexit.register(print, 'atexit ran')\n"
        "distributed.exit_process(3)\n"
        "print('never')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=_one_rank_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3, run.stderr[-2000:]
    assert run.stdout == "partial joined=True"  # and no "atexit ran": the teardown skipped
    assert run.stderr.strip().splitlines()[-1] == "logged last"
    # Output that cannot be written (its descriptor gone) turns success into 120, as Python's
    # own exit does; a failure's code is kept.
    for code_in, expected in ((0, 120), (2, 2)):
        lost = (
            "import os, sys\n"
            "from swift_sampler import distributed\n"
            "distributed.init_from_env()\n"
            "distributed.leave(wait=True)\n"
            "sys.stdout.write('lost')\n"
            "os.close(1)\n"
            f"distributed.exit_process({code_in})\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", lost], env=_one_rank_env(), capture_output=True, timeout=120
        )
        assert run.returncode == expected, run.stderr[-2000:]


def test_exit_process_outside_a_group_is_the_ordinary_exit() -> None:
    # Never os._exit in a process that joined no group: a test runner that calls a job's code
    # in-process (tests/integrations) gets SystemExit, not a silent end with exit code 0.
    from swift_sampler import distributed

    assert not distributed.joined()
    with pytest.raises(SystemExit) as caught:
        distributed.exit_process(4)
    assert caught.value.code == 4


RELEASED = r"""
import sys
from swift_sampler import distributed
from swift_sampler.errors import InputDataError

distributed.init_from_env()


class Target:
    def check(self):
        distributed.sum_across([1.0])  # every rank in step, then the same error on each
        raise InputDataError("the same bad input on every rank")


target = Target()
if distributed.rank() == 0:
    try:
        distributed.Lockstep(target).check()
    except InputDataError:
        failed = True
    distributed.release_followers(failed=failed)
else:
    failed = distributed.Lockstep(target).follow()
print(f"rank {distributed.rank()} failed={failed}", flush=True)
distributed.leave(wait=not failed)
"""


@pytest.mark.slow
def test_followers_learn_that_rank_0_failed_inside_the_inner_loop(tmp_path: Path) -> None:
    script = tmp_path / "released.py"
    script.write_text(RELEASED)
    run = subprocess.run(
        _torchrun("--tee=1", str(script)), env=ENV, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rank 0 failed=True" in run.stdout and "rank 1 failed=True" in run.stdout


DEBUG_INTERNAL = r"""
import atexit
import sys
from swift_sampler import cli

atexit.register(print, "atexit ran", flush=True)  # an ordinary exit would print this


def broken(*args, **kwargs):
    raise RuntimeError("a deliberate internal error")


cli._search = broken  # rank 0 runs the command; the other rank follows its inner loop
sys.argv = ["swift-sampler", "--debug", "--threads", "1", "search", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.slow
def test_debug_internal_error_under_torchrun_prints_the_traceback_and_exits_1(
    tmp_path: Path,
) -> None:
    # --debug lets an internal error through main(); run() prints its traceback and ends the
    # joined rank with exit code 1 through exit_process (no abort at exit, no hang), and the
    # follower, released as failed, leaves with 0.
    script = tmp_path / "debug.py"
    script.write_text(DEBUG_INTERNAL)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    run = subprocess.run(
        _torchrun(str(script), str(config), "--run-dir", str(tmp_path / "r")),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "failed (exitcode: 1) local_rank: 0" in run.stderr, run.stderr[-3000:]
    assert "Traceback" in run.stderr
    assert run.stderr.count("RuntimeError: a deliberate internal error") == 1
    assert "terminate called" not in run.stderr and "internal error:" not in run.stderr
    assert "atexit ran" not in run.stdout  # neither rank went through the teardown
