"""The ``swift-sampler`` command line: the only module that prints, picks default paths and maps
errors to exit codes.

Exit codes: 0 success, 2 bad configuration or input (one clear message; the traceback only with
``--debug``), 1 internal error, 130 Ctrl-C, 141 standard output closed by its reader
(``| head``). Torch is imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from swift_sampler.errors import ConfigError, DiskFullError, RunFileError, SwiftSamplerError

if TYPE_CHECKING:
    from swift_sampler.config import Config
    from swift_sampler.search.driver import SearchResult
    from swift_sampler.search.final import ArmRun
    from swift_sampler.search.rundir import RunPaths

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by it


_MOST = 1024
"""The most --threads or --workers take (torch overflows on a thread count past 2**63)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not 1 <= value <= _MOST:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, {_MOST}], got {value}")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--debug and --threads, given before the command or after it.

    On the subcommands their default is SUPPRESS, so an option given before the command is not
    overwritten by the subcommand's default.
    """
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show tracebacks and debug logs (bad input still exits 2)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=argparse.SUPPRESS if suppress else None,
        help="torch threads (default: train.threads of the config, else min(cores, 2))",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swift-sampler",
        description="Learn per-instance sampling probabilities with 10 parameters "
        "(Swift Sampler, NeurIPS 2024).",
    )
    _add_global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser(
        "search",
        parents=[common],
        help="search a sampler: shared start, short fine-tunes, Bayesian optimisation",
        description="Runs the Swift Sampler search of CONFIG into a run directory: the study "
        "(every trial), the shared checkpoint, result.json, sampler.json and the figures.",
    )
    search.add_argument("config", type=Path, help="TOML configuration")
    search.add_argument("--run-dir", type=Path, default=None, help="default: runs/CONFIG_STEM")
    search.add_argument("--resume", action="store_true", help="continue the search in RUN_DIR")
    search.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="trial processes on this machine, each with threads // K torch threads "
        "(default 1; more than one uses a JournalStorage file in RUN_DIR)",
    )

    check = commands.add_parser(
        "check",
        parents=[common],
        help="check a config and print it resolved: which search it runs, and every key",
        description="Checks CONFIG against every rule of the config (all problems at once, "
        "exit 2; not the files, factory or storage it names, which search opens) and prints "
        "which search it runs and why (the swift preset or the full search: search.preset = "
        "'auto' decides from the data, the [sampler] family and the [search] keys you set), "
        "the trials and the schedule's split, then the config as TOML: every key that has a "
        "value, defaults and the keys the preset fills in included. Trains nothing, imports "
        "no torch.",
    )
    check.add_argument("config", type=Path, help="TOML configuration")

    train = commands.add_parser(
        "train",
        parents=[common],
        help="train from scratch with a found sampler, and with uniform sampling",
        description="Final training with a sampler file: uniform for search.shared_epochs "
        "epochs, then the sampler with features refreshed every epoch (once, at the switch, "
        "for a sampler with refresh = 'once'); validation and test Top-1 (a language "
        "model: perplexity) every epoch, with a note when validation does not show the sampler "
        "helping over uniform sampling with early stopping. "
        "With another [model] in CONFIG this is transfer: only the sampler file moves.",
    )
    train.add_argument("config", type=Path, help="TOML configuration")
    train.add_argument("--sampler", type=Path, required=True, help="a sampler.json")
    train.add_argument(
        "--out", type=Path, default=None, help="directory for final.json (default: the sampler's)"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing final.json")

    worker = commands.add_parser(
        "worker",
        parents=[common],
        help="join a search shared by many processes or machines (PostgreSQL, journal file)",
        description="Scores trials of the study NAME in the storage URL until its budget is "
        "finished. The first worker needs --config (the study stores it; later workers read it "
        "from there). The shared start is trained once, by the first worker to take its lock; "
        "a worker that dies has its trial failed and requeued (RDB storages, by heartbeat).",
    )
    worker.add_argument(
        "--storage",
        required=True,
        help="postgresql://user@host:port/db (many machines) or journal:///path (one machine)",
    )
    worker.add_argument("--study", required=True, help="the Optuna study name")
    worker.add_argument("--config", type=Path, default=None, help="creates the study if missing")
    worker.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="where the shared checkpoint and result files live; the same directory for every "
        "worker, on a filesystem all of them see (default: runs/STUDY)",
    )
    worker.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between heartbeats (default 10)"
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=60.0,
        help="seconds without a heartbeat before a trial counts as dead (default 60)",
    )

    report = commands.add_parser(
        "report",
        parents=[common],
        help="print a run's summary and redraw its figures",
        description="Prints the summary of a run directory (search, cost, final training), "
        "then redraws figure3.png and figure1.png. Damaged run files are refused before anything "
        "is printed. A figure that cannot be written (a read-only directory, a full disk) gets "
        "one line on stderr naming it, after the summary, and the exit code is 2.",
    )
    report.add_argument("run_dir", type=Path)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the main job: search + final training on MNIST-5k with 40%% label noise",
        # A description is printed as written (only help strings are %-formatted).
        description="Searches a sampler on MNIST-5k with 40% symmetric label noise, trains "
        "it and uniform sampling from scratch, and prints validation and test Top-1 for both "
        "(configs/demo.toml). A rerun resumes the run directory and recomputes nothing "
        "already finished.",
    )
    demo.add_argument("--run-dir", type=Path, default=Path("runs/demo"))
    demo.add_argument("--fresh", action="store_true", help="delete RUN_DIR first")
    demo.add_argument("--config", type=Path, default=None, help="run another config the same way")
    return parser


class _Bar:
    def __init__(self, description: str, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc=description,
            file=sys.stderr,
            leave=False,
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
        )

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _metric(config: Config | None, value: float | None = None) -> str:
    """``"perplexity"`` for a language model (a text dataset), else ``"top1"``.

    Without a config (a worker joining a study, a run directory without config.toml) the
    score itself tells: accuracy lies in [0, 1], negative perplexity at or below -1.
    """
    if config is not None:
        from swift_sampler.config import TEXT_DATASET_NAMES

        return "perplexity" if config.data.name in TEXT_DATASET_NAMES else "top1"
    return "perplexity" if value is not None and value < 0 else "top1"


def _score_text(value: float, metric: str) -> str:
    """A score as printed: ``93.4%``, or ``ppl 5.83`` (the score is minus the perplexity)."""
    return f"ppl {-value:.2f}" if metric == "perplexity" else _pct(value)


def _print_trial(record: Any, total: int, best: list[float], metric: str = "top1") -> None:
    pruned = getattr(record, "state", "COMPLETE") == "PRUNED"
    if not pruned:
        best[0] = max(best[0], record.score)
    # record.best_score counts the trials of a resumed run too (nan when none is complete).
    best[0] = max(best[0], record.best_score)
    note = f", pruned after {record.epochs} epochs" if pruned else ""
    print(
        f"trial {record.slot + 1:3d}/{total}  val {_score_text(record.score, metric):>6s}  "
        f"best {_score_text(best[0], metric):>6s}  ({sum(record.seconds.values()):.1f} s{note})",
        flush=True,
    )


def _search(
    config: Config, run_dir: Path, *, resume: bool, workers: int = 1, threads: int = 1
) -> SearchResult:
    from swift_sampler.search.driver import run_search

    best = [float("-inf")]
    print(
        f"search: {config.search.trials} trials, outer loop {config.search.outer}, "
        f"{config.sampler.transform}, E_s = {config.search.shared_epochs}, "
        f"E_o = {config.search.finetune_epochs}"
        + (f", pruner {config.search.pruner}" if config.search.pruner != "none" else "")
        + (
            f", preset {config.search.preset} (search.preset = 'none': the full search)"
            if config.search.preset is not None
            else ""
        )
        + f"; run directory {run_dir}"
        + (f"; {workers} workers x {threads} threads" if workers > 1 else ""),
        flush=True,
    )
    result = run_search(
        config,
        run_dir,
        resume=resume,
        progress=_Bar,
        on_trial=lambda r: _print_trial(r, config.search.trials, best, _metric(config)),
        workers=workers,
        threads_per_worker=threads,
    )
    _draw_search_figures(result.paths.root)
    return result


def _draw_search_figures(run_dir: Path) -> None:
    from swift_sampler.search.rundir import RunPaths, read_result

    paths = RunPaths(run_dir)
    for _, draw in _search_figures(paths, read_result(paths.result)):
        draw()


def _search_figures(
    paths: RunPaths, result: dict[str, Any]
) -> list[tuple[Path, Callable[[], None]]]:
    """A run's figures as ``(path, draw)`` pairs, Figure 3 first.

    Their data is read and checked here (a damaged figure1.npz raises RunFileError), so bad
    input is refused before anything is drawn or printed; ``draw()`` only renders and writes.
    """
    import zipfile
    import zlib
    from functools import partial

    import numpy as np

    from swift_sampler.report import figure1_data, figure3_data, plot_figure1, plot_figure3

    scores = [
        t["val_score"] if t["val_score"] is not None else float("nan")
        for t in sorted(
            (t for t in result["trials"] if t["state"] == "COMPLETE"), key=lambda t: t["slot"]
        )
    ]
    label = f"{result['outer']} ({result['transform']})"
    best = result["best"]["val_score"]
    ylabel = "minus validation perplexity" if _metric(None, best) == "perplexity" else None
    figures: list[tuple[Path, Callable[[], None]]] = [
        (
            paths.figure3,
            partial(
                plot_figure3,
                figure3_data({label: [scores]}),
                paths.figure3,
                title="best-so-far validation",
                **({"ylabel": ylabel} if ylabel else {}),
            ),
        )
    ]
    if paths.figure1_data.exists():
        try:
            with np.load(paths.figure1_data, allow_pickle=False) as arrays:
                noisy = arrays["noisy"] if "noisy" in arrays.files else None
                data = figure1_data(
                    arrays["loss_rank"], arrays["er_rank"], arrays["probability"], noisy
                )
        except (
            OSError,
            ValueError,
            KeyError,
            EOFError,
            NotImplementedError,  # a zip entry with flags the reader lacks
            zipfile.BadZipFile,
            zlib.error,  # bytes overwritten inside a compressed array
        ) as err:
            # InputDataError (arrays that do not fit together) is a ValueError too.
            raise RunFileError(
                f"{paths.figure1_data} is damaged ({type(err).__name__}: {err}); the search "
                f"writes it again: swift-sampler search {paths.config} --run-dir {paths.root} "
                "--resume (or delete it to skip Figure 1)"
            ) from None
        draw1 = partial(plot_figure1, data, paths.figure1, title="sampler at the shared start")
        figures.append((paths.figure1, draw1))
    return figures


def _cost_line(cost: dict[str, float]) -> str:
    return (
        f"search cost {cost['total_s']:.0f} s, {cost['total_epochs']:.0f} training-epoch "
        f"equivalents{' of CPU time' if cost.get('epoch_clock_cpu') else ''} (set-up "
        f"{cost.get('setup_s', 0.0):.1f} s, shared start "
        f"{cost['shared_start_s']:.1f} s, fine-tunes "
        f"{cost['finetune_s']:.0f} s, feature passes {cost['features_s']:.0f} s, evaluation "
        f"{cost['eval_s']:.0f} s, outer loop {cost['outer_s']:.1f} s); one full training is "
        f"{cost['full_training_epochs']:.0f} epochs"
        + (
            f"; epochs trained {cost['shared_epochs_run'] + cost['finetune_epochs_run']:.0f} "
            + (
                f"({cost['continuations']:.0f} promotions after the screening)"
                if "continuations" in cost
                else f"({cost['trials_pruned']:.0f} trials pruned)"
            )
            if "finetune_epochs_run" in cost
            else ""
        )
    )


def _final_exists(
    target: Path, saved: dict[str, Any], key: dict[str, Any], complete: bool, config: Config
) -> str:
    """Why an existing final.json stops ``train``: what it holds, what differs, and the ways
    on that keep its finished runs (``--overwrite`` is the one that drops them)."""
    differs = [
        name
        for name, field in (("config", "config_fingerprint"), ("sampler", "sampler"))
        if saved.get(field) != key[field]
    ]
    if not differs:
        return (
            f"{target} holds the complete final training of this config and sampler; give "
            "another --out, or pass --overwrite to train it again"
        )
    other = " and ".join(differs)
    if complete:
        text = (
            f"{target} holds a complete final training of another {other}; give another "
            "--out, or pass --overwrite to replace it"
        )
    else:
        runs = sum(len(arm["runs"]) for arm in saved["arms"].values())
        text = (
            f"{target} holds {runs} finished run{'s' if runs != 1 else ''} of an unfinished "
            f"final training of another {other}; to continue it, train with the config and "
            "sampler that wrote it; else give another --out, or pass --overwrite to replace it"
        )
    if "config" in differs and config.search.preset == "swift":
        text += (
            "; note that a config without search keys of its own gets the swift preset since "
            '2026-12-02: if this one was written before, `preset = "none"` under [search] '
            "reads it as it was then"
        )
    return text


def _kept_by_other_final(
    saved: dict[str, Any], key: dict[str, Any], config: Config
) -> list[ArmRun] | None:
    """The finished runs of ``saved`` (a checked final.json) that ``train`` keeps although its
    config differs: it was written by this config and sampler with other ``[final]`` seeds or
    arms, and every one of its finished runs is one this config trains (seeds added, the
    uniform arm added, or unfinished seeds dropped). None otherwise: then nothing is kept.

    The ``[final]`` section that wrote it is in the file since 2026-12-02; for a complete file
    written before, it is read from the arms (their seeds, in order, and whether uniform ran).
    """
    from swift_sampler.config import FinalConfig
    from swift_sampler.search.final import ArmRun

    if saved.get("sampler") != key["sampler"]:
        return None
    arms = saved["arms"]
    runs = [ArmRun.from_summary(r) for a in arms.values() for r in a["runs"]]
    wrote = saved.get("final")
    if wrote is not None:
        before = (tuple(wrote["seeds"]), bool(wrote["uniform"]))
    elif saved.get("complete", True) is not False and "swift" in arms:
        before = (tuple(int(s) for s in arms["swift"]["seeds"]), "uniform" in arms)
    else:
        return None
    then = dataclasses.replace(config, final=FinalConfig(seeds=before[0], uniform=before[1]))
    if then.fingerprint() != saved.get("config_fingerprint"):
        return None  # another config beyond [final]
    trained = {"swift", "uniform"} if config.final.uniform else {"swift"}
    if all(r.arm in trained and r.seed in config.final.seeds for r in runs):
        return runs
    return None


def _final(
    config: Config, spec_path: Path, out_dir: Path, *, overwrite: bool, reuse: bool = False
) -> dict[str, Any]:
    """Final training into ``out_dir/final.json``, saved after every finished run.

    ``out_dir`` is checked (a directory, writable, room for the results) before any training.
    A final.json left by an interrupted training of the same config and sampler is continued:
    its finished runs are kept and not trained again. If saving fails (a full disk), the
    finished runs are printed before the error.
    """
    from swift_sampler import distributed
    from swift_sampler._io import ensure_room
    from swift_sampler.family import SamplerSpec
    from swift_sampler.search.final import ArmRun, final_training, summarise_arms
    from swift_sampler.search.rundir import read_final, write_json
    from swift_sampler.search.setup import build_experiment

    spec = SamplerSpec.load(spec_path)
    target = out_dir / "final.json"
    key = {"config_fingerprint": config.fingerprint(), "sampler": spec.to_dict()}
    done: list[ArmRun] = []
    if target.exists() and not target.is_file():  # --overwrite could not replace it
        raise ConfigError(f"{target} exists and is not a file; remove it or give another --out")
    if target.exists() and not overwrite:
        saved = read_final(target)
        same = {k: saved.get(k) for k in key} == key
        complete = saved.get("complete", True) is not False
        kept = None if same else _kept_by_other_final(saved, key, config)
        if same and not complete:
            done = [ArmRun.from_summary(r) for a in saved["arms"].values() for r in a["runs"]]
            print(f"final training: continuing {target} ({len(done)} finished runs kept)")
        elif kept is not None:
            done = kept
            print(
                f"final training: {target} was written with other [final] seeds or arms; its "
                f"{len(done)} finished runs are among this config's and are kept"
            )
        elif reuse and same:
            print(f"final training: reusing {target}")
            return saved
        elif not reuse:
            raise ConfigError(_final_exists(target, saved, key, complete, config))
        else:  # the demo (reuse): its own directory, the runs of another config or sampler
            print(
                f"final training: {target} holds the runs of another config or sampler; "
                "training again for this one"
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory; give a directory")
    experiment = build_experiment(config)  # bad data or model: fails before --out is made
    out_dir.mkdir(parents=True, exist_ok=True)
    if distributed.rank() == 0:
        ensure_room(out_dir, _FINAL_ROOM)
    seeds = list(config.final.seeds)
    arms = 2 if config.final.uniform else 1
    total = len(seeds) * arms

    def summary_of(runs: list[ArmRun]) -> dict[str, Any]:
        return {
            **summarise_arms(runs),
            **key,
            # What [final] asked for: a later config with more seeds or the uniform arm added
            # keeps these runs (_kept_by_other_final).
            "final": {"seeds": seeds, "uniform": config.final.uniform},
            # Your own model (model.factory) is named by its factory, not the unused name.
            "model": config.model.factory or config.model.name,
            "metric": _metric(config),
            "complete": len(runs) == total,
        }

    finished: list[ArmRun] = list(done)

    def save(runs: list[ArmRun]) -> None:
        finished[:] = runs
        if distributed.rank() == 0:  # under torchrun every rank trained; one writes
            write_json(target, summary_of(runs))

    bar = _Bar("final training", (total - len(done)) * config.train.epochs)
    try:
        runs = final_training(
            experiment.trainer,
            spec,
            seeds=seeds,
            shared_epochs=config.epochs_split[0],
            uniform=config.final.uniform,
            noise_mask=experiment.noise_mask,
            on_epoch=lambda arm, seed, epoch: bar.update(),
            done=done,
            on_run=save,
        )
    except (SwiftSamplerError, OSError):  # saving failed: show what was trained
        bar.close()
        if finished:
            print(
                f"final training stopped: {len(finished)} of {total} runs finished; their results:"
            )
            _print_final(summary_of(finished))
        raise
    finally:
        bar.close()
    if len(runs) == len(done):  # nothing trained now: write the completed file
        if distributed.is_distributed():  # once every rank has read the old one
            import torch

            torch.distributed.barrier()
        save(runs)
    return summary_of(runs)


_FINAL_ROOM = 1 << 20
"""Bytes that must be free in the destination before a final training starts."""


def _print_final(summary: dict[str, Any]) -> None:
    arms = summary["arms"]
    seeds = max(len(a["seeds"]) for a in arms.values())
    what = "mean ± std over seeds" if seeds > 1 else "one seed"
    if summary.get("metric") == "perplexity":
        _print_final_perplexity(arms, what)
        return
    print(f"\nTop-1 ({what}; validation labels are as noisy as training labels)")
    print(
        f"{'sampler':14s} {'val last':>13s} {'val best':>13s} {'test last':>13s} "
        f"{'test at best val':>16s}  seeds"
    )

    def cell(a: dict[str, Any], key: str) -> str:
        text = _pct(a[f"{key}_mean"])
        if len(a["seeds"]) > 1:
            text += f" ±{100 * a[f'{key}_std']:.1f}"
        return text

    curves: dict[str, dict[int, list[float]]] = {}  # arm: seed -> validation curve
    for name, label in (("uniform", "uniform"), ("swift", "Swift Sampler")):
        if name not in arms:
            continue
        a = arms[name]
        mine = {r["seed"]: r["val_top1"] for r in a.get("runs", []) if r.get("val_top1")}
        cells = ["-", "-"]
        if mine:  # a final.json without the curves shows none
            cells = [
                _spread([c[-1] for c in mine.values()]),
                _spread([max(c) for c in mine.values()]),
            ]
            curves[name] = mine
        print(
            f"{label:14s} {cells[0]:>13s} {cells[1]:>13s} {cell(a, 'last'):>13s} "
            f"{cell(a, 'test_at_best_val'):>16s}  {a['seeds']}"
        )
    note = _validation_note(curves)
    if note:
        print(note)


def _validation_note(curves: dict[str, dict[int, list[float]]]) -> str | None:
    """A note when, on the seeds both arms trained, the sampler's best validation epoch is not
    above uniform sampling's: validation does not show it helping. Only that is said: with
    noisy validation labels it also happens to samplers that help on clean test data
    (docs/results.md, "The default protocol outside the tables"). Test is not consulted."""
    if not {"uniform", "swift"} <= curves.keys():
        return None
    seeds = sorted(curves["uniform"].keys() & curves["swift"].keys())
    if not seeds:
        return None
    uniform = statistics.fmean(max(curves["uniform"][s]) for s in seeds)
    swift = statistics.fmean(max(curves["swift"][s]) for s in seeds)
    if swift > uniform:
        return None
    return (
        f"note: on validation the Swift Sampler's best epoch ({_pct(swift)}) is not above "
        f"uniform sampling's ({_pct(uniform)}) on the seeds both trained ({seeds}): validation "
        "does not show this sampler helping over uniform training with early stopping. With "
        "noisy validation labels (pair noise especially) this also happens to samplers that "
        "help on clean data; docs/results.md, 'The default protocol outside the tables'"
    )


def _spread(values: list[float]) -> str:
    """Mean (and std over seeds when there are several) of fractions, as percent."""
    text = _pct(statistics.fmean(values))
    if len(values) > 1:
        text += f" ±{100 * statistics.stdev(values):.1f}"
    return text


def _print_final_perplexity(arms: dict[str, Any], what: str) -> None:
    """Validation and test perplexity at the last epoch and at the best-validation epoch."""
    print(f"\nperplexity ({what}; validation and test text is clean)")
    print(
        f"{'sampler':14s} {'val last':>13s} {'val best':>13s} {'test last':>13s} "
        f"{'test at best val':>16s}  seeds"
    )

    def cell(values: list[float], width: int) -> str:
        text = f"{statistics.fmean(values):.3f}"
        if len(values) > 1:
            text += f" ±{statistics.stdev(values):.3f}"
        return f"{text:>{width}s}"

    for name, label in (("uniform", "uniform"), ("swift", "Swift Sampler")):
        if name not in arms:
            continue
        runs = arms[name]["runs"]
        best = [r["best_val_epoch"] for r in runs]
        columns = [
            [-r["val_top1"][-1] for r in runs],
            [-r["val_top1"][b] for r, b in zip(runs, best, strict=True)],
            [-r["last"] for r in runs],
            [-r["test_at_best_val"] for r in runs],
        ]
        cells = " ".join(cell(c, w) for c, w in zip(columns, (13, 13, 13, 16), strict=True))
        print(f"{label:14s} {cells}  {arms[name]['seeds']}")


def _cmd_check(args: argparse.Namespace) -> int:
    from swift_sampler.config import read_config_file, search_choice

    # One read and one check: every problem, with the file's name.
    config, choice = search_choice(read_config_file(args.config), source=str(args.config))
    s = config.search
    shared, finetune = config.epochs_split
    parts = (
        f"; pruner {s.pruner}, first rung {s.min_resource} of {finetune * s.epoch_parts} steps"
        if s.pruner != "none"
        else ""
    )
    print(f"{args.config}: valid")
    print(f"search: {choice}")
    print(
        f"  {s.trials} trials (the uniform sampler, {s.portfolio} from the portfolio, "
        f"{len(s.start_thetas)} start_thetas, {s.startup_trials} start-up, outer loop "
        f"{s.outer}{parts}); E_s = {shared}, E_o = {finetune} of {config.train.epochs} epochs"
    )
    print()
    print(config.to_toml(), end="")
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    import torch

    from swift_sampler.config import load_config

    config = load_config(args.config)
    _configure_threads(args, config)
    run_dir = args.run_dir or Path("runs") / args.config.stem
    # K workers share the threads: never oversubscribe the cores.
    threads = max(1, torch.get_num_threads() // args.workers)
    result = _search(config, run_dir, resume=args.resume, workers=args.workers, threads=threads)
    print(f"\nbest theta {[round(x, 4) for x in result.best_theta]}")
    score = _score_text(result.best_score, _metric(config))
    print(f"best validation score {score} (trial {result.best_slot + 1})")
    print(_cost_line(result.cost))
    print(f"sampler: {result.paths.sampler}; report: {result.paths.root}")
    return EXIT_OK


def _cmd_worker(args: argparse.Namespace) -> int:
    from swift_sampler.config import load_config
    from swift_sampler.search.cluster import join_study
    from swift_sampler.search.workers import WorkerOptions

    config = load_config(args.config) if args.config is not None else None
    options = WorkerOptions(heartbeat=args.heartbeat, grace=args.grace)
    _configure_threads(args, config)
    run_dir = args.run_dir or Path("runs") / args.study
    out = join_study(args.storage, args.study, run_dir, config=config, options=options)
    print(
        f"worker done: scored {out['scored']} trials (shared start {out['shared_start']}); "
        "study best validation score "
        f"{_score_text(out['best_score'], _metric(config, out['best_score']))} "
        f"(slot {out['best_slot']})"
    )
    print(f"sampler: {run_dir / 'sampler.json'}")
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from swift_sampler.config import load_config
    from swift_sampler.family import SamplerSpec

    config = load_config(args.config)
    SamplerSpec.load(args.sampler)  # a bad sampler file fails before any training
    _configure_threads(args, config)
    out_dir = args.out or args.sampler.parent
    summary = _final(config, args.sampler, out_dir, overwrite=args.overwrite)
    _print_final(summary)
    print(f"\nwritten: {out_dir / 'final.json'}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from swift_sampler.search.rundir import RunPaths, read_final, read_result

    paths = RunPaths(args.run_dir)
    if not paths.result.exists():
        raise ConfigError(f"{paths.root} holds no result.json: is it a run directory?")
    # Every input is read and checked before the first line is printed.
    result = read_result(paths.result)
    final = read_final(paths.final) if paths.final.exists() else None
    figures = _search_figures(paths, result)
    best = result["best"]["val_score"]
    metric = _run_metric(paths, best)
    done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    pruned = [t for t in result["trials"] if t["state"] == "PRUNED"]
    print(
        f"run {paths.root}: {len(done)} finished trials"
        + (f" and {len(pruned)} pruned" if pruned else "")
        + f", outer loop {result['outer']}"
    )
    print(f"best theta {[round(x, 4) for x in result['best']['theta']]}")
    print(f"best validation score {_score_text(best, metric)}")
    print(_cost_line(result["cost"]))
    if final is not None:
        _print_final(final)
    # The summary stands without the figures: one that cannot be written is named after it.
    written = []
    for path, draw in figures:
        try:
            draw()
        except (OSError, DiskFullError) as err:
            sys.stdout.flush()
            if args.debug:  # as for any other bad input: the traceback, then the one line
                traceback.print_exception(err, file=sys.stderr)
            print(f"swift-sampler: error: {_figure_not_written(path, err)}", file=sys.stderr)
        else:
            written.append(str(path))
    if written:
        print(f"figures: {', '.join(sorted(written))}")
    return EXIT_OK if len(written) == len(figures) else EXIT_BAD_INPUT


def _figure_not_written(path: Path, err: BaseException) -> str:
    """One line for a figure that could not be written, naming its path (not the temporary
    file it was being written to) and the reason."""
    if isinstance(err, DiskFullError):
        reason = f"the disk is full (no space left on the filesystem holding {path.parent})"
        todo = "free some space there and run report again"
    else:
        reason = getattr(err, "strerror", None) or f"{type(err).__name__}: {err}"
        todo = "fix that and run report again"
    return f"figure {path} could not be written: {reason}; {todo}"


def _cmd_demo(args: argparse.Namespace) -> int:
    from swift_sampler.demo import demo_config
    from swift_sampler.search.rundir import RunPaths

    start = time.perf_counter()
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ConfigError(
            "the demo runs in one process; under torchrun run `search` and then `train` "
            "(each data-parallel), or start the demo without torchrun"
        )
    if args.config is not None:
        from swift_sampler.config import load_config

        config = load_config(args.config)
    else:
        config = demo_config()
    _configure_threads(args, config)
    paths = RunPaths(args.run_dir)
    if args.fresh:
        _remove_run(paths)
    d = config.data
    print(
        f"demo: {d.name}, {d.noise_rate:.0%} {d.noise_type} label noise on train and val, "
        f"model {config.model.name}, {config.train.epochs}-epoch schedule"
    )
    # A rerun resumes whatever search the directory holds (also one whose config.toml was
    # lost: the study holds the config's fingerprint, and config.toml is written again).
    result = _search(config, paths.root, resume=paths.holds_search())
    score = _score_text(result.best_score, _metric(config))
    print(f"\nbest validation score {score} (trial {result.best_slot + 1})")
    print(_cost_line(result.cost))
    summary = _final(config, paths.sampler, paths.root, overwrite=False, reuse=True)
    _print_final(summary)
    print(
        f"\nreport: {paths.root} (sampler.json, result.json, final.json, figure1.png, "
        f"figure3.png); total {time.perf_counter() - start:.0f} s"
    )
    return EXIT_OK


def _run_metric(paths: RunPaths, value: float) -> str:
    """The metric of a run directory: from its config.toml, else from the score's sign."""
    from swift_sampler.config import load_config

    try:
        config = load_config(paths.config) if paths.config.exists() else None
    except ConfigError:
        config = None
    return _metric(config, value)


def _remove_run(paths: RunPaths) -> None:
    """Deletes a run directory's files, refusing a directory that holds anything else."""
    from swift_sampler.search.rundir import RUN_FILES, locked

    if not paths.root.exists():
        return
    if not paths.root.is_dir():
        raise ConfigError(f"--fresh: {paths.root} is not a directory")
    names = {p.name for p in paths.root.iterdir()}
    # Saved candidate states of synchronous halving (search.halving), left by a killed search.
    states = paths.rungs.is_dir() and all(p.suffix == ".pt" for p in paths.rungs.iterdir())
    foreign = sorted(
        n
        for n in names
        if n not in RUN_FILES and not n.startswith(".") and not (n == "rungs" and states)
    )
    if foreign:
        raise ConfigError(
            f"--fresh deletes run directories only, and {paths.root} also holds {foreign[:5]}; "
            "choose another --run-dir"
        )
    with locked(paths):
        for name in names:
            target = paths.root / name
            if target.is_file() and (name in RUN_FILES or name.startswith(".")):
                target.unlink()
            elif name == "rungs":
                shutil.rmtree(target)
    paths.lock.unlink(missing_ok=True)
    if not any(paths.root.iterdir()):
        paths.root.rmdir()


def _configure_threads(args: argparse.Namespace, config: Config | None = None) -> None:
    import torch

    threads = args.threads
    if threads is None and config is not None:
        threads = config.train.threads
    if threads is None:
        # Under torchrun the ranks of this machine share its cores: never oversubscribe.
        local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        threads = max(1, min(os.cpu_count() or 1, 2 * local_ranks) // local_ranks)
    torch.set_num_threads(threads)


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("swift_sampler").setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        import optuna
    except ImportError:  # the search extra is not installed: nothing to quieten
        return
    optuna.logging.set_verbosity(optuna.logging.DEBUG if debug else optuna.logging.WARNING)


_DISTRIBUTED = ("search", "worker", "train")
"""Commands that run data-parallel under torchrun (WORLD_SIZE in the environment)."""


def _distributed(args: argparse.Namespace, command: Any) -> int:
    """Runs a command under torchrun: rank 0 runs it, the other ranks train alongside.

    ``search`` and ``worker``: rank 0 talks to the study and writes the run directory; the
    other ranks run each inner-loop call with it (``follow_inner_loop``). ``train``: every
    rank trains; rank 0 alone writes and prints.
    """
    from swift_sampler import distributed

    finished = False
    try:
        if not distributed.init_from_env() or args.command == "train":
            if distributed.rank() != 0:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - one report, from rank 0
            code = int(command(args))
        elif distributed.rank() != 0:
            from swift_sampler.search.setup import follow_inner_loop

            _configure_threads(args)
            if follow_inner_loop():
                return EXIT_OK  # rank 0 failed, said why and exits with its code
            code = EXIT_OK
        else:
            ran = False
            try:
                code = int(command(args))
                ran = True
            finally:
                distributed.release_followers(failed=not ran)
        finished = True
        return code
    finally:
        distributed.leave(wait=finished)


def _message(err: BaseException) -> str:
    """The one-line message of an input error; a full disk says so, and where."""
    from swift_sampler._io import disk_full_error, is_disk_full

    if is_disk_full(err):
        where = getattr(err, "filename", None)
        return str(disk_full_error(where, err)) if where else f"the disk is full: {err}"
    return str(err)


def _after_interrupt(args: argparse.Namespace) -> str:
    """What to do after Ctrl-C, from what is on disk now (not what the command meant to do)."""
    from swift_sampler.search.rundir import RunPaths

    if args.command in ("search", "demo"):
        if args.command == "search":
            run_dir = args.run_dir or Path("runs") / args.config.stem
            again = "rerun with --resume to continue"
        else:
            run_dir = args.run_dir
            again = "rerun the same command to continue"
        if RunPaths(run_dir).holds_search():
            return f"{again} (the search in {run_dir} keeps its finished trials)"
        return f"nothing was kept in {run_dir}; rerun the same command to start again"
    if args.command == "train":
        final = (args.out or args.sampler.parent) / "final.json"
        try:
            import json

            partial = json.loads(final.read_text()).get("complete") is False
        except (OSError, ValueError, AttributeError):
            partial = False
        if partial:
            return f"the finished runs are kept in {final}; rerun the same command to continue"
        return "nothing was saved; rerun the same command to start again"
    if args.command == "worker":
        return "the study keeps its finished trials; start the worker again to continue"
    return "nothing was changed"


def _import_from_cwd() -> None:
    """Puts the current directory on ``sys.path`` so that a ``data.factory = "my_data:load"``
    finds ``./my_data.py`` (console scripts leave it out). Last, unlike ``python -m``: a file
    in the directory named like an installed package (``optuna.py``) must not shadow it."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.append(here)


def _stdout_closed() -> bool:
    """Whether standard output is a pipe or socket whose reader has gone (POLLERR)."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a StringIO, or closed
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """Points file descriptor 1 at /dev/null, so that the interpreter's last flush of what is
    still buffered does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swift-sampler`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "check": _cmd_check,
        "search": _cmd_search,
        "train": _cmd_train,
        "worker": _cmd_worker,
        "report": _cmd_report,
        "demo": _cmd_demo,
    }
    _import_from_cwd()
    try:
        _configure_logging(args.debug)
        if args.command in _DISTRIBUTED and os.environ.get("WORLD_SIZE"):
            code = _distributed(args, commands[args.command])
        else:
            code = commands[args.command](args)
        sys.stdout.flush()  # here, not at exit: a closed reader is seen by the handler below
        return code
    except BrokenPipeError as err:
        if not _stdout_closed():  # another pipe (a worker's, a socket): an error as any other
            if args.debug:
                traceback.print_exc(file=sys.stderr)
            print(f"swift-sampler: error: {_message(err)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        # The reader of standard output went away (`... | head`): not bad input, no message.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (SwiftSamplerError, OSError) as err:
        # OSError: a path the user gave is missing, a directory, unwritable... (input, not a bug)
        if args.debug:  # the traceback, but still the exit code of bad input
            traceback.print_exc(file=sys.stderr)
        print(f"swift-sampler: error: {_message(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"swift-sampler: interrupted; {_after_interrupt(args)}", file=sys.stderr)
        return 130
    except Exception as err:  # an internal error: say so, keep the traceback behind --debug
        if args.debug:
            raise
        print(
            f"swift-sampler: internal error: {type(err).__name__}: {err} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run() -> NoReturn:
    """The ``swift-sampler`` console script: :func:`main`, then exit with its code.

    A process that joined a torchrun process group exits through
    :func:`swift_sampler.distributed.exit_process` (its work is written, the group left),
    which skips the interpreter's teardown where torch's gloo threads can abort a finished
    rank. torch is never imported here for a command that did not import it. An internal
    error that ``--debug`` lets through is printed there with its traceback, exit code 1.
    """

    def joined() -> Any:
        distributed = sys.modules.get("swift_sampler.distributed")
        return distributed if distributed is not None and distributed.joined() else None

    try:
        code = main()
    except Exception:
        distributed = joined()
        if distributed is None:
            raise
        traceback.print_exc()
        distributed.exit_process(EXIT_INTERNAL)
    distributed = joined()
    if distributed is not None:
        distributed.exit_process(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
