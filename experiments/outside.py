"""The default protocol outside the tables: networks, data draws and a dataset no choice saw.

Run: .venv/bin/python experiments/outside.py [--jobs 2] [--runs mnist5k-mlp:sym40 ...]
                                             [--seeds 1 2 3] [--select-seed 0] [--trials 20]
                                             [--preset swift]

Every default of the library (E_s = 0.4 of the schedule, the exact tail, 20 GP trials, cgf,
L = 2, S = 4, the features loss and Er) was chosen on validation in Table 1's settings: MNIST-5k
with a CNN and MNIST-1D with conv1d, data seed 0. A choice that only fits those settings would
show elsewhere. Here the same comparison as Table 1 runs on settings that share neither the
network nor the data draw with it, fixed before any of them ran (2026-12-01): an MLP (the
package's ``mlp``) on MNIST-5k and on MNIST-1D, and on sklearn's digits (in no table), each
with data seed 1 (other splits, other flipped labels). The runs:

- ``mnist5k-mlp:sym40`` and ``mnist5k-mlp:pair40``: MNIST-5k, MLP, 20 epochs, 40% symmetric
  and 40% pair noise;
- ``mnist1d-mlp:sym20``: MNIST-1D, MLP, 60 epochs, 20% symmetric noise;
- ``digits-mlp:sym40``: digits, MLP, 30 epochs, 40% symmetric noise, 20% of the 1,797 images
  for validation (about 360 noisy labels) and 20% for test.

A second set, fixed before any of it ran (2026-12-02, when the swift preset became the search
of a classifier's config without search keys of its own), asks the same of that default on
noise levels the first set did not try on those networks: ``mnist1d-mlp:sym40`` (MNIST-1D,
MLP, 40% symmetric noise), ``mnist1d-mlp:pair40`` (40% pair noise) and ``mnist5k-mlp:sym20``
(MNIST-5k, MLP, 20% symmetric noise), selection seed 0, reported seeds 1, 2, 3, with the
preset and with the full search. The question, set before: is the preset's three-seed mean
at or above uniform training with early stopping in each run, at the last epoch and at the
best-validation epoch, and where does it stand against the full search and the methods with
its information? (``--runs SECOND`` runs exactly these.)

A third set, fixed before any of it ran (2026-12-02), asks it of a noise type that no choice
and no table saw: instance-dependent noise (``data.noise_type = "instance"``, Xia et al.'s
generator: the new class depends on the input, one annotator for train and validation), 40%
of the train and validation labels, on Table 1's own networks and data draws,
``mnist5k:inst40`` (the CNN) and ``mnist1d:inst40`` (conv1d), and on ``digits-mlp:inst40``
(digits, MLP, data seed 1); selection seed 0, reported seeds 1, 2, 3, with the preset and with
the full search. The questions, set before: is the preset's three-seed mean at or above
uniform training with early stopping in each run, at the last epoch and at the
best-validation epoch; is it at or above the full search; and which methods with its
information are above it? (``--runs THIRD`` runs exactly these.)

A fourth set, fixed before any of it ran (2026-12-02), asks the same of instance-dependent
noise at half the rate, 20% of the train and validation labels, on the third set's networks
and data draws: ``mnist5k:inst20``, ``mnist1d:inst20`` and ``digits-mlp:inst20``, selection
seed 0, reported seeds 1, 2, 3, with the preset and with the full search, and the same
questions as the third set. One more, set before: at 40% the README advises Co-teaching for
such noise (it was above the preset in two of three runs); does that advice hold at 20%, that
is, is Co-teaching (rate on validation) above the preset in at least two of the three runs at
both epochs? (``--runs FOURTH`` runs exactly these.) A replicate, fixed before it ran
(2026-12-02): the fourth set with the preset on selection seed 1, reported seeds 11, 12, 13
(``--runs FOURTH --preset swift --select-seed 1 --seeds 11 12 13``), the same questions but
the one on the full search. A replicate of the third set, fixed before it ran (2026-12-02):
``--runs THIRD --preset swift --select-seed 1 --seeds 11 12 13``, the third set's questions
but the one on the full search, and one more: does the README's advice for such noise hold on
this seed, that is, is Co-teaching (rate on validation) above the preset in at least two of
the three runs at both epochs?

Methods, as Table 1 trains them (its jobs, under results/table1/runs/): every method with SS's
information (uniform, uniform with early stopping, REED hard and soft, the practical variants
of MentorNet-PD, Co-teaching and drop-r% with their rate chosen on validation, drop-r% also
choosing whether to start at SS's E_s) and the oracle (noise mask, privileged); SS(cgf) with
the default protocol (experiments/early_start.py's jobs). Every choice on the selection seed,
test Top-1 on the reported seeds, at the last epoch and at the best-validation epoch. Nothing
here changes a default: it says whether the defaults hold where they were not chosen.
``--preset swift`` finds SS's sampler with ``search.preset = "swift"`` instead (the README's
recipe for a cheap search; experiments/swift_table1.py's jobs), everything else the same.
Writes results/outside/summary.json and the section ``outside`` of docs/results.md (with
another ``--fraction``, ``--lipschitz``, ``--select-seed``, ``--preset`` or the second, third
or fourth set's runs: results/outside/summary-f<fraction>-L<L>-s<seed>-<preset>-second.json
(or -third, -fourth), with only the parts that differ from the default, and no section; any
other list of runs adds its names).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import large_val
import table1
from _common import RESULTS, ROOT, replace_section, write_json

NAME = "outside"
RUNS = ("mnist5k-mlp:sym40", "mnist5k-mlp:pair40", "mnist1d-mlp:sym20", "digits-mlp:sym40")
SECOND = ("mnist1d-mlp:sym40", "mnist1d-mlp:pair40", "mnist5k-mlp:sym20")
"""The second set (2026-12-02): ``--runs SECOND``."""
THIRD = ("mnist5k:inst40", "mnist1d:inst40", "digits-mlp:inst40")
"""The third set (2026-12-02, instance-dependent noise): ``--runs THIRD``."""
FOURTH = ("mnist5k:inst20", "mnist1d:inst20", "digits-mlp:inst20")
"""The fourth set (2026-12-02, instance-dependent noise at 20%): ``--runs FOURTH``."""
SETS = {"SECOND": SECOND, "THIRD": THIRD, "FOURTH": FOURTH}
WHERE = {
    None: "Settings in no table (an MLP, data seed 1; digits with 20% of its images for "
    "validation and 20% for test)",
    "third": "A noise type in no table: 40% instance-dependent noise (`data.noise_type = "
    '"instance"`) on train and validation labels, on Table 1\'s MNIST-5k (CNN) and MNIST-1D '
    "(conv1d) with their data seed 0, and on digits (MLP, data seed 1, 20% of the images for "
    "validation and 20% for test)",
    "fourth": "A noise type in no table at half the third set's rate: 20% instance-dependent "
    '(`data.noise_type = "instance"`) noise on train and validation labels, on Table 1\'s '
    "MNIST-5k (CNN) and MNIST-1D (conv1d) with their data seed 0, and on digits (MLP, data seed "
    "1, 20% of the images for validation and 20% for test)",
}
"""The first sentence of a set's table (the second set is in the first set's networks)."""


def _run(text: str) -> tuple[str, str]:
    dataset, _, setting = text.partition(":")
    if text in SETS:
        raise argparse.ArgumentTypeError(f"{text} stands alone: --runs {text}")
    if dataset not in table1.DATASETS or setting not in table1.NOISE_SETTINGS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected DATASET:SETTING with DATASET in {sorted(table1.DATASETS)} "
            f"and SETTING in {sorted(table1.NOISE_SETTINGS)}"
        )
    return dataset, setting


def verdict(rows: list[dict[str, Any]], column: str) -> tuple[bool, list[str]]:
    """Whether SS(cgf) is at or above every method with its information in ``column``
    (``last_mean`` or ``at_best_val_mean``, to the table's 0.1 point), and those above it."""
    ss = next(r for r in rows if r["method"] == "ss_cgf")
    above = [
        f"{table1.LABELS[r['method']]} {r[column]:.1f}"
        for r in rows
        if r["method"] != "ss_cgf"
        and r["privileged"] == "none"
        and round(r[column], 1) > round(ss[column], 1)
    ]
    return not above, above


def main() -> None:
    args, command = large_val.parse_args(
        __doc__,
        "outside.py",
        lambda parser: (
            parser.add_argument(
                "--runs",
                nargs="+",
                default=list(RUNS),
                help="DATASET:SETTING ..., or SECOND, THIRD or FOURTH",
            ),
            parser.add_argument("--lipschitz", type=float, default=2.0, help="SS's bound L"),
            parser.add_argument(
                "--preset", choices=["swift"], default=None, help="SS's search: the preset"
            ),
        ),
    )
    if args.preset and (args.lipschitz != 2.0 or args.trials != 20):
        print(
            f"outside.py: error: --preset {args.preset} sets its own trials and keeps L = 2: "
            "drop --lipschitz and --trials",
            file=sys.stderr,
        )
        sys.exit(2)
    names = list(SETS[args.runs[0]]) if len(args.runs) == 1 and args.runs[0] in SETS else args.runs
    try:
        args.runs = [_run(r) for r in names]
    except argparse.ArgumentTypeError as err:
        print(f"outside.py: error: argument --runs: {err}", file=sys.stderr)
        sys.exit(2)
    # The first set writes the section; the second and third sets, or any other list, files of
    # their own.
    named = next((key.lower() for key, runs in SETS.items() if names == list(runs)), None)
    other = named is None and names != list(RUNS)
    seeds = list(args.seeds)
    rows: list[dict[str, Any]] = []
    for dataset, setting in args.runs:
        rows += large_val.same_information_rows(
            dataset,
            [setting],
            select=args.select_seed,
            seeds=seeds,
            fraction=args.fraction,
            trials=args.trials,
            jobs=args.jobs,
            drop_start=True,
            lipschitz=args.lipschitz,
            preset=args.preset,
        )
    status = {}
    for dataset, setting in args.runs:
        mine = [r for r in rows if (r["dataset"], r["setting"]) == (dataset, setting)]
        status[f"{dataset}:{setting}"] = {
            column: dict(zip(("met", "above"), verdict(mine, column), strict=True))
            for column in ("last_mean", "at_best_val_mean")
        }
    # Another E_s or L than the default's is a diagnosis beside the default's files, not over
    # them; so is another selection seed (a replicate of the whole comparison).
    tag = (
        ("" if args.fraction == 0.4 else f"-f{args.fraction:g}")
        + ("" if args.lipschitz == 2.0 else f"-L{args.lipschitz:g}")
        + ("" if args.select_seed == 0 else f"-s{args.select_seed}")
        + ("" if args.preset is None else f"-{args.preset}")
        + (f"-{named}" if named else "")
        + ("-" + "+".join(n.replace(":", "_") for n in names) if other else "")
    )
    write_json(
        RESULTS / NAME / f"summary{tag}.json", {"seeds": seeds, "rows": rows, "status": status}
    )

    # The named sets say where they run; another list names its runs.
    where = (
        WHERE.get(named, WHERE[None])
        if not other
        else f"Runs {', '.join(names)} (networks and data seeds: experiments/table1.py's "
        "DATASETS; settings: its NOISE_SETTINGS)"
    )
    sharp = "" if args.lipschitz == 2.0 else f", L = {args.lipschitz:g}"
    protocol = (
        f"the default protocol (E_s = {args.fraction:g} of the schedule, the exact tail, "
        f"{args.trials} GP trials{sharp})"
        if args.preset is None
        else f'the preset "{args.preset}" (E_s = {args.fraction:g} of the schedule, the exact '
        "tail; experiments/swift_table1.py's jobs)"
    )
    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. {where}; methods as in "
        f"Table 1, every choice on seed {args.select_seed} (validation only); SS(cgf) is "
        f"{protocol}; "
        f"test Top-1 (%) on seeds {seeds}, mean ± std, last epoch / at the "
        "best-validation epoch. 'chosen': the rate picked on validation (drop-r%: and its "
        "start). 'SS at or above': whether SS(cgf) is at or above every method with its "
        "information in that column.",
        "",
        "| run | method | last / at best val | chosen |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']}:{r['setting']} | {table1.LABELS[r['method']]} | "
            f"{r['last_mean']:.1f} ± {r['last_std']:.1f} / "
            f"{r['at_best_val_mean']:.1f} ± {r['at_best_val_std']:.1f} | "
            f"{large_val._rate(r.get('chosen'))} |"
        )
    lines += [
        "",
        "| run | SS at or above, last epoch | at the best-validation epoch |",
        "|---|---|---|",
    ]
    for run, cols in status.items():
        cells = [
            "yes" if c["met"] else "no: " + ", ".join(c["above"])
            for c in (cols["last_mean"], cols["at_best_val_mean"])
        ]
        lines.append(f"| {run} | {cells[0]} | {cells[1]} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / NAME / f"{NAME}{tag}.md").write_text(text)
    print(text)
    if not args.no_docs and not tag:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME,
            "## The default protocol outside the tables (issue 10)\n\n" + text,
        )


if __name__ == "__main__":
    main()
