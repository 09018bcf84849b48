"""Part B calibration: can the family express a better sampler than the search finds?

Run: .venv/bin/python experiments/family_reach.py [--jobs 2] [--seeds 1 2 3]
                                                  [--datasets ...] [--settings ...]

The calibration "Where the gap to the oracle comes from" put SS's whole selection cost on the
flipped labels its sampler keeps, and every ablation since (sharper bounds, other families,
feature history, frozen features, a clean validation split: SS ‡ in Table 1) left it there.
Three things could be short: the **family** (no theta of the 10-parameter Lipschitz family,
refreshed every epoch, drops the flipped labels much better), the **score** (a theta that
would do better exists but the validation score does not rank it higher), or the **search**
(it exists and scores higher, but 20 GP trials did not find it). This calibration asks the
family directly, with privileged information:

- the **fitted theta** maximises, over the whole box, the mean log-probability the sampler
  gives the clean instances at the switch (the shared start's features; the noise mask read
  here only): the family's closest sampler to the oracle's, which is uniform over the clean
  instances and 0 on the flipped ones (the cross-entropy from the oracle's distribution to the
  sampler's). 1024 Sobol points, then Nelder-Mead from the best 4 (clipped to the box);
- both the fitted theta and the search's own pick (early_start's, which this machine did not
  search: its shared start is remade here, from the same config, as the refresh ablation's)
  are fine-tuned over the tail from that shared start and scored on the validation split as
  the search scores (sampler seed = the search seed), and their probability on the flipped
  labels and spread over the clean ones at the switch are recorded;
- the fitted theta is trained from scratch on the reported seeds under the default protocol
  (features refreshed every epoch), beside SS's own trainings (early_start's cache).

Reading, set before the runs (2026-12-02): if the fitted sampler is not above SS on test, the
family (refreshed as it is) is what is short; if it is above on test and on validation, the
search is; if it is above on test but not on validation, the score is. It reads the noise mask
and is a diagnosis, not a method; nothing here changes a default. Writes
results/family_reach/summary.json and the section ``family_reach`` of docs/results.md.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import early_start
import lipschitz_early
import oracle_start
import table1
from _common import RESULTS, ROOT, Job, replace_section, run_jobs, write_json

NAME = "family_reach"
SWITCH_MEASURES = (
    "switch_flipped_share",
    "switch_clean_spread",
    "switch_clean_log_likelihood",
)
"""What a sampler is measured by at the switch."""
FRACTION, TRIALS, SELECT_SEED = 0.4, 20, 0
"""The default protocol (early_start's) whose searches are compared."""


def clean_log_likelihood(probabilities: Any, noise_mask: Any) -> float:
    """Mean log-probability of the clean instances: minus the cross-entropy from the oracle's
    distribution (uniform over them) to the sampler's, up to a constant."""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.log(p[~np.asarray(noise_mask, dtype=bool)]).mean())


def fit_theta(spec: Any, u: Any, noise_mask: Any, *, starts: int = 4) -> tuple[list[float], float]:
    """The theta in [0, 1]^d of ``spec``'s family whose probabilities on transformed features
    ``u`` give the clean instances the highest mean log-probability; and that value."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.stats import qmc

    dim = spec.num_params

    def loss(theta: Any) -> float:
        tau = spec.with_theta(np.clip(theta, 0.0, 1.0)).weights(u)
        return -clean_log_likelihood(tau / tau.sum(), noise_mask)

    points = qmc.Sobol(dim, seed=0).random(1024)
    values = np.array([loss(t) for t in points])
    best_theta, best = points[int(values.argmin())], float(values.min())
    for i in np.argsort(values)[:starts]:
        found = minimize(
            loss, points[i], method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-4}
        )
        if found.fun < best:
            best_theta, best = np.clip(found.x, 0.0, 1.0), float(found.fun)
    return [float(x) for x in best_theta], -best


def reach_job(
    dataset: str, noise_type: str, noise: float, found: dict[str, Any]
) -> dict[str, Any]:
    """Fits the theta (privileged), then scores it and the search's pick ``found`` (a spec
    dict) on validation from the shared start, with their flipped share and clean spread at
    the switch."""
    import numpy as np

    from swift_sampler.family import SamplerSpec

    experiment, inner, mask = _shared_start(dataset, noise_type, noise)
    searched = SamplerSpec.from_dict(found)
    features = experiment.trainer.features(inner.shared_state(), searched.columns)
    u, _ = searched.transform_features(features)
    theta, value = fit_theta(searched, u, mask)
    fitted = SamplerSpec.from_dict(
        searched.to_dict()
        | {
            "theta": theta,
            "metadata": {"fit": "privileged: closest to the oracle at the switch (noise mask)"},
        }
    )
    out: dict[str, Any] = {"fitted_spec": fitted.to_dict()}
    for name, spec in (("searched", searched), ("fitted", fitted)):
        p = spec.probabilities(features)
        score = inner.evaluate(spec)
        out[name] = {
            "val": score.score,
            "switch_flipped_share": float(p[mask].sum()),
            "switch_clean_spread": oracle_start.clean_spread(p, mask),
            "switch_clean_log_likelihood": clean_log_likelihood(p, mask),
        }
    out["fitted"]["objective"] = value
    out["uniform_clean_log_likelihood"] = float(-np.log(mask.size))
    return out


def _shared_start(dataset: str, noise_type: str, noise: float) -> tuple[Any, Any, Any]:
    """``(experiment, inner loop with the shared start loaded, noise mask)`` of the default
    protocol's config for one setting, from this machine's shared start."""
    import numpy as np

    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.setup import build_experiment

    config = early_start.make_config(dataset, noise_type, noise, FRACTION, TRIALS, SELECT_SEED)
    once = dataclasses.replace(config, sampler=dataclasses.replace(config.sampler, refresh="once"))
    # The shared start depends on the data, the model, the recipe and E_s only: the refresh
    # ablation's search made it on this machine from the same config.
    run_dir = early_start.search_dir(once, dataset, noise_type, noise, TRIALS, "refresh")
    result = json.loads((run_dir / "result.json").read_text())
    experiment = build_experiment(config)
    shared, finetune = config.epochs_split
    inner = InnerLoop(
        experiment.trainer,
        shared_epochs=shared,
        finetune_epochs=finetune,
        schedule=config.search.finetune_schedule,
        seed=config.search.seed,  # the sampler seed every candidate of the search used
        epoch_parts=config.search.epoch_parts,
        refresh_every=config.search.refresh_every,
    )
    inner.load_shared_start(run_dir / "shared.pt", result["shared_sha256"])
    return experiment, inner, np.asarray(experiment.noise_mask, dtype=bool)


def switch_job(
    dataset: str, noise_type: str, noise: float, spec: dict[str, Any]
) -> dict[str, Any]:
    """``spec``'s probability on the flipped labels and spread over the clean ones at the
    switch (this machine's shared start), without a fine-tune: for a sampler refreshed once
    (the refresh ablation's), what it keeps for the whole tail."""
    from swift_sampler.family import SamplerSpec

    experiment, inner, mask = _shared_start(dataset, noise_type, noise)
    sampler = SamplerSpec.from_dict(spec)
    p = sampler.probabilities(experiment.trainer.features(inner.shared_state(), sampler.columns))
    return {
        "switch_flipped_share": float(p[mask].sum()),
        "switch_clean_spread": oracle_start.clean_spread(p, mask),
        "switch_clean_log_likelihood": clean_log_likelihood(p, mask),
    }


def main() -> None:
    parser = early_start.protocol_parser(__doc__ or "", ["mnist5k", "mnist1d"])
    parser.set_defaults(settings=list(oracle_start.NOISY))
    args = parser.parse_args()
    early_start.check_protocol(parser, args)
    if (args.fraction, args.trials, args.select_seed) != (FRACTION, TRIALS, SELECT_SEED):
        parser.error("this calibration reads the default protocol's searches only")
    command = ("python experiments/family_reach.py " + " ".join(sys.argv[1:])).strip()
    pairs = early_start.setting_pairs(args)

    def kwargs(dataset: str, setting: str) -> dict[str, Any]:
        return early_start.protocol_kwargs(args, dataset, setting)

    def setting(dataset: str, name: str) -> dict[str, Any]:
        noise_type, noise = table1.SETTINGS[name]
        return {"dataset": dataset, "noise_type": noise_type, "noise": noise}

    searches, trains = early_start.cached_runs(pairs, kwargs, args.seeds)
    reach = {
        p: Job(
            NAME,
            f"reach-{p[0]}-{p[1]}",
            reach_job,
            setting(*p) | {"found": searches[p]["spec"]},
        )
        for p in pairs
    }
    # The refresh ablation's samplers (refreshed once): what they keep for the whole tail.
    # Its searches also made the shared starts every job here loads: required.
    once_searches = {
        p: Job(
            "refresh",
            f"search-{p[0]}-{p[1]}",
            lipschitz_early.search_job,
            kwargs(*p) | {"refresh": "once", "experiment": "refresh"},
        ).cached()
        for p in pairs
    }
    missing = [p for p, found in once_searches.items() if found is None]
    if missing:
        raise SystemExit(
            f"the refresh ablation's searches are missing for {missing}: run "
            "experiments/refresh.py first (its shared starts are the ones measured here)"
        )
    switch = {
        p: Job(
            NAME,
            f"switch-once-{p[0]}-{p[1]}",
            switch_job,
            setting(*p) | {"spec": found["spec"]},
        )
        for p, found in once_searches.items()
    }
    done = run_jobs([*reach.values(), *switch.values()], processes=args.jobs)
    fitted_trains = {
        (p, s): Job(
            NAME,
            f"train-{p[0]}-{p[1]}-s{s}",
            early_start.train_job,
            kwargs(*p) | {"seed": s, "spec": done[reach[p].key]["fitted_spec"]},
        )
        for p in pairs
        for s in args.seeds
    }
    done.update(run_jobs(list(fitted_trains.values()), processes=args.jobs))
    table1_path = RESULTS / "table1" / "summary.json"
    if not table1_path.exists():
        raise SystemExit("results/table1/summary.json is missing: run experiments/table1.py")
    table1_rows = json.loads(table1_path.read_text())
    oracle_rows = {
        (r["dataset"], r["setting"]): r
        for r in json.loads((RESULTS / "oracle_start" / "summary.json").read_text())
    }
    rows = []
    for p in pairs:
        noise_type, noise = table1.SETTINGS[p[1]]
        measured = done[reach[p].key]
        fitted_runs = [done[fitted_trains[p, s].key] for s in args.seeds]
        searched_runs = [trains[p, s] for s in args.seeds]
        oracle = oracle_rows.get(p, {}).get("oracle_from", {}).get(f"{FRACTION:g}")
        same_info = early_start.same_information(table1_rows, p[0], noise_type, noise)
        rows.append(
            {
                "dataset": p[0],
                "setting": p[1],
                "noise_type": noise_type,
                "noise": noise,
                "seeds": args.seeds,
                "search_best_val_recorded": searches[p]["best_val"],
                "searched": measured["searched"]
                | early_start.arm(searched_runs)
                | {"last_flipped_share": lipschitz_early.last_share(searched_runs)},
                "fitted": measured["fitted"]
                | early_start.arm(fitted_runs)
                | {"last_flipped_share": lipschitz_early.last_share(fitted_runs)},
                "fitted_theta": measured["fitted_spec"]["theta"],
                "once": {k: done[switch[p].key][k] for k in SWITCH_MEASURES},
                "oracle_from_es": oracle,
                "privileged": "noise_mask (the fitted theta)",
            }
            | early_start.best_same_information(same_info)
        )
    write_json(RESULTS / NAME / "summary.json", rows)
    text = markdown(rows, command)
    print(text)
    if not args.no_docs:
        replace_section(ROOT / "docs" / "results.md", NAME, text)


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    def pair(arm: dict[str, Any] | None) -> str:
        if arm is None:
            return "-"
        return f"{arm['last_mean']:.1f} / {arm['at_best_val_mean']:.1f}"

    date = datetime.date.today().isoformat()
    lines = [
        "## Can the family express a better sampler than the search finds? (Part B calibration)",
        "",
        f"Command: `{command}`. Date: {date}. The default protocol (E_s = {FRACTION:g} of the "
        f"schedule, the exact tail, {TRIALS} GP trials, cgf). **searched**: the search's pick "
        "(early_start's); **fitted** (privileged: reads the noise mask): the theta of the same "
        "family that gives the clean instances the highest mean log-probability at the switch. "
        "val: validation Top-1 (%) of one fine-tune from this machine's shared start, sampler "
        "seed 0, as the search scores (the search's own record in brackets); at the switch: "
        "the sampler's probability on the flipped labels and its spread over the clean ones "
        "(exp-entropy share), and in the column 'once' the same for the refresh ablation's "
        "sampler (features computed once: what it keeps for the whole tail); last: the "
        "flipped share at the last epoch of the final "
        f"trainings. Test Top-1 (%) on seeds {rows[0]['seeds'] if rows else []}, last epoch / "
        "at the best-validation epoch.",
        "",
        "| dataset | setting | val searched (recorded) / fitted | flipped at switch searched "
        "/ fitted | clean spread at switch searched / fitted | flipped last searched / fitted "
        "| once: flipped / spread | SS(cgf) searched | SS(cgf) fitted | oracle from E_s | "
        "best same-info |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, f, o = r["searched"], r["fitted"], r["once"]
        once = f"{100 * o['switch_flipped_share']:.1f}% / {100 * o['switch_clean_spread']:.0f}%"
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {100 * s['val']:.1f} "
            f"({100 * r['search_best_val_recorded']:.1f}) / {100 * f['val']:.1f} | "
            f"{100 * s['switch_flipped_share']:.1f}% / {100 * f['switch_flipped_share']:.1f}% | "
            f"{100 * s['switch_clean_spread']:.0f}% / {100 * f['switch_clean_spread']:.0f}% | "
            f"{100 * s['last_flipped_share']:.1f}% / {100 * f['last_flipped_share']:.1f}% | "
            f"{once} | {pair(s)} | {pair(f)} | {pair(r['oracle_from_es'])} | "
            f"{early_start.same_information_cell(r)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
