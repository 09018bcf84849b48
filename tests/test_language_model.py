"""The language-model task: sequence features, the GPT trainer, InfoBatch, the CLI end to end."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swift_sampler.baselines import (
    DropHighLossTrainer,
    InfoBatchTrainer,
    OracleTrainer,
    infobatch_plan,
)
from swift_sampler.cli import main
from swift_sampler.config import parse_config
from swift_sampler.errors import InputDataError, NonFiniteError
from swift_sampler.features import compute_sequence_features
from swift_sampler.models import GPT
from swift_sampler.search.final import train_arm
from swift_sampler.search.objective import InnerLoop
from swift_sampler.search.setup import build_experiment, template_spec
from swift_sampler.train import LanguageModelTrainer, Trainer

TINY = """
[data]
name = "shakespeare"
contamination = 0.4
seq_len = 32
train_sequences = 160
eval_sequences = 40
[model]
name = "gpt"
layers = 1
d_model = 32
heads = 2
[train]
epochs = 3
batch_size = 16
lr = 0.01
weight_decay = 0.0
threads = 1
[search]
trials = 2
startup_trials = 1
shared_epochs = 1
finetune_epochs = 2
[final]
seeds = [1]
"""


def _config(**overrides: dict) -> object:
    import tomllib

    raw = tomllib.loads(TINY)
    for section, values in overrides.items():
        raw[section].update(values)
    return parse_config(raw)


@pytest.fixture(scope="module")
def experiment():  # type: ignore[no-untyped-def]
    return build_experiment(_config())


# Features ---------------------------------------------------------------------------------------


def test_sequence_features_match_a_direct_computation() -> None:
    gen = torch.Generator().manual_seed(0)
    b, v, t = 3, 7, 5
    logits = torch.randn(b, v, t, generator=gen, dtype=torch.float64) * 3
    targets = torch.randint(0, v, (b, t), generator=gen)
    names = ("loss", "er", "grad_norm", "margin")
    got = compute_sequence_features(logits, targets, names).double()
    for i in range(b):
        losses, ers, squares, margins = [], [], [], []
        for j in range(t):
            z, y = logits[i, :, j], int(targets[i, j])
            p = torch.softmax(z, 0)
            losses.append(-math.log(p[y]))
            others = torch.cat([z[:y], z[y + 1 :]])  # the prediction with the target removed
            q = torch.softmax(others, 0)
            ers.append(float(-(q * q.log()).sum()) / math.log(v - 1))
            residual = p.clone()
            residual[y] -= 1
            squares.append(float(residual @ residual))
            margins.append(float(p[y] - torch.cat([p[:y], p[y + 1 :]]).max()))
        expected = [
            np.mean(losses),
            np.mean(ers),
            math.sqrt(np.mean(squares)),
            np.mean(margins),
        ]
        np.testing.assert_allclose(got[i].numpy(), expected, rtol=1e-5, atol=1e-6)
    # grad_norm is the norm of d(mean token loss)/d(logits), times sqrt(T).
    z = logits.clone().requires_grad_(True)
    F.cross_entropy(z[:1], targets[:1]).backward()
    assert float(z.grad.norm()) * math.sqrt(t) == pytest.approx(float(got[0, 2]), rel=1e-5)


def test_sequence_features_reject_bad_shapes_and_nan() -> None:
    logits = torch.zeros(2, 5, 4)
    with pytest.raises(InputDataError, match=r"targets must have shape \(2, 4\)"):
        compute_sequence_features(logits, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(InputDataError, match=r"shape \(b, V, T\)"):
        compute_sequence_features(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
    logits[1, 0, 2] = float("nan")
    with pytest.raises(NonFiniteError):
        compute_sequence_features(logits, torch.zeros(2, 4, dtype=torch.long))


# The model and the trainer ----------------------------------------------------------------------


def test_gpt_is_causal_and_checks_its_size() -> None:
    torch.manual_seed(0)
    model = GPT(11, context=8, layers=1, d_model=16, heads=2).eval()
    x = torch.randint(0, 11, (2, 8))
    out = model(x)
    assert out.shape == (2, 11, 8)
    changed = x.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 11
    later = model(changed)
    torch.testing.assert_close(later[:, :, :5], out[:, :, :5])  # the past never sees the future
    assert not torch.allclose(later[:, :, 5], out[:, :, 5])
    with pytest.raises(InputDataError, match=r"d_model \(10\) must be a multiple of heads \(4\)"):
        GPT(11, d_model=10, heads=4)
    with pytest.raises(InputDataError, match="exceed the context of 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_trainer_scores_negative_perplexity_and_learns(experiment) -> None:  # type: ignore[no-untyped-def]
    trainer = experiment.trainer
    assert isinstance(trainer, LanguageModelTrainer) and isinstance(trainer, Trainer)
    assert trainer.worst_score == -85.0
    state = trainer.new_state(0)
    # Perplexity = exp(mean next-token cross-entropy over every position), computed directly.
    x, y = trainer.val.tensors
    with torch.no_grad():
        direct = math.exp(float(F.cross_entropy(state.model(x), y)))
    assert trainer.perplexity(state, "val") == pytest.approx(direct, rel=1e-5)
    assert trainer.score(state, "val") == pytest.approx(-direct, rel=1e-5)
    assert 60 < direct < 110  # an untrained model: about uniform over 85 tokens
    before = trainer.perplexity(state, "val")
    for _ in range(2):
        trainer.train_epoch(state)
    assert trainer.perplexity(state, "val") < 0.8 * before
    features = trainer.features(state, ("loss", "er", "grad_norm"))
    assert features.shape == (160, 3) and features.dtype == np.float32
    assert ((features[:, 1] >= 0) & (features[:, 1] <= 1)).all()
    # The junk sequences (random characters among them) are harder than Shakespeare.
    mask = experiment.noise_mask
    assert features[mask, 0].mean() > features[~mask, 0].mean()


def test_a_diverged_candidate_scores_worst_not_best(experiment, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    trainer = experiment.trainer
    inner = InnerLoop(trainer, shared_epochs=1, finetune_epochs=1, seed=0)
    inner.train_shared_start(None)

    def diverge(*args: object, **kwargs: object) -> float:
        raise NonFiniteError("boom")

    monkeypatch.setattr(trainer, "train_epoch", diverge)
    score = inner.evaluate(template_spec(_config()))
    assert score.diverged and score.score == -85.0  # below any model's -perplexity


def test_a_candidate_worse_than_a_uniform_guess_ties_with_a_diverged_one(experiment) -> None:  # type: ignore[no-untyped-def]
    """A perplexity above V (worse than guessing) is scored -V, not below a diverged run."""
    trainer = experiment.trainer
    inner = InnerLoop(trainer, shared_epochs=1, finetune_epochs=1, seed=0)
    inner.train_shared_start(None)
    state = inner.shared_state()
    with torch.no_grad():  # confident and wrong: a huge perplexity
        for p in state.model.parameters():
            p.mul_(40.0)
    assert trainer.perplexity(state, "val") > 85.0 * 100
    inner._shared = trainer.state_dict(state)
    score = inner.evaluate(template_spec(_config()))
    assert not score.diverged
    assert score.score == -85.0


def test_final_training_reports_perplexity_at_last_and_best_val(experiment) -> None:  # type: ignore[no-untyped-def]
    run = train_arm(
        experiment.trainer,
        template_spec(_config()).with_theta(np.linspace(0.9, 0.1, 10)),
        seed=1,
        shared_epochs=1,
        noise_mask=experiment.noise_mask,
    )
    summary = run.summary()
    ppl = [-s for s in summary["val_top1"]]
    assert all(p > 1 for p in ppl)
    assert summary["best_val_epoch"] == int(np.argmin(ppl))  # best = lowest perplexity
    assert summary["test_at_best_val"] == summary["test_top1"][summary["best_val_epoch"]]
    assert summary["noisy_share"][0] == pytest.approx(0.4)  # uniform epoch: the junk's share
    assert summary["noisy_share"][-1] != pytest.approx(0.4)  # the sampler moved mass


def test_infobatch_prunes_only_low_loss_and_keeps_the_expected_gradient() -> None:
    losses = np.array([0.1, 0.2, 0.3, 5.0, 6.0, 0.15, 0.25, 7.0])  # mean 2.375
    rng = np.random.default_rng(0)
    counts = np.zeros(8)
    weight_sums = np.zeros(8)
    for _ in range(4000):
        kept, weights = infobatch_plan(losses, 0.5, rng)
        assert len(set(kept.tolist())) == len(kept)
        assert {3, 4, 7} <= set(kept.tolist())  # high loss: always kept
        np.add.at(counts, kept, 1)
        np.add.at(weight_sums, kept, weights)
    assert counts[[3, 4, 7]].tolist() == [4000] * 3
    np.testing.assert_allclose(counts[[0, 1, 2, 5, 6]] / 4000, 0.5, atol=0.03)
    np.testing.assert_allclose(weight_sums / 4000, 1.0, atol=0.06)  # unbiased per instance


def test_loss_baselines_train_the_language_model(experiment) -> None:  # type: ignore[no-untyped-def]
    base = experiment.trainer
    info = InfoBatchTrainer(base, prune_ratio=0.5, anneal=1.0, start_epoch=1)
    state = info.new_state(0)
    info.train_epoch(state)  # full
    steps_full = math.ceil(160 / 16)
    info.train_epoch(state)  # pruned
    assert 0.5 < info.kept_shares[0] < 1.0
    assert math.ceil(info.kept_shares[0] * 160 / 16) < steps_full
    assert np.isfinite(info.score(state, "val"))
    drop = DropHighLossTrainer(base, fraction=0.4, start_epoch=1)
    state = drop.new_state(0)
    drop.train_epoch(state)
    p = drop.probabilities(state)
    assert p is not None and (p == 0).sum() == 64


def test_the_oracle_never_draws_a_contaminated_sequence(experiment) -> None:  # type: ignore[no-untyped-def]
    """experiments/lm_oracle.py's ceiling: OracleTrainer over the language model reads the
    contamination mask and, from its start epoch on, draws clean sequences only."""
    mask = experiment.noise_mask
    assert mask is not None and 0 < mask.sum() < mask.size
    oracle = OracleTrainer(experiment.trainer, noise_mask=mask, start_epoch=1)
    state = oracle.new_state(0)
    assert oracle.probabilities(state) is None  # uniform before the start epoch
    state.epoch = 1
    p = oracle.probabilities(state)
    assert p is not None
    np.testing.assert_array_equal(p == 0, mask)
    assert p.sum() == pytest.approx(1.0)
    drawn = list(oracle.epoch_sampler(state))  # type: ignore[union-attr]
    assert len(drawn) == mask.size and not mask[drawn].any()
    assert np.isfinite(oracle.train_epoch(state))


# The command line -------------------------------------------------------------------------------


def test_search_and_train_print_perplexities(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "lm.toml"
    config.write_text(TINY)
    run = tmp_path / "run"
    assert main(["search", str(config), "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "trial   1/2  val ppl " in out and "best validation score ppl " in out
    result = json.loads((run / "result.json").read_text())
    best = result["best"]["val_score"]
    assert best < -1 and f"best validation score ppl {-best:.2f}" in out
    assert main(["train", str(config), "--sampler", str(run / "sampler.json")]) == 0
    out = capsys.readouterr().out
    final = json.loads((run / "final.json").read_text())
    assert final["metric"] == "perplexity"
    swift = final["arms"]["swift"]["runs"][0]
    line = next(x for x in out.splitlines() if x.startswith("Swift Sampler"))
    assert f"{-swift['last']:.3f}" in line and f"{-swift['test_at_best_val']:.3f}" in line
    assert "val last" in out and "test at best val" in out
    assert main(["report", str(run)]) == 0
    assert f"best validation score ppl {-best:.2f}" in capsys.readouterr().out


def test_the_shipped_configs_parse() -> None:
    from swift_sampler.config import load_config

    root = Path(__file__).resolve().parents[1] / "configs"
    tiny, full = load_config(root / "lm-tiny.toml"), load_config(root / "lm.toml")
    assert tiny.model.name == full.model.name == "gpt"
    assert full.data.contamination == 0.4 and full.data.name == "shakespeare"


def test_config_ties_text_data_to_the_gpt_and_reports_every_problem() -> None:
    from swift_sampler.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "data": {"name": "mnist5k", "contamination": 0.2, "corpus": "a.txt"},
                "model": {"name": "gpt", "width": 8},
            }
        )
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "model.name: 'gpt' is a language model and needs a text dataset (data.name in "
        "['shakespeare', 'text']), got data.name = 'mnist5k'",
        "data.contamination: only the text datasets ['shakespeare', 'text'] are contaminated "
        "(use data.noise_rate for 'mnist5k'), got 0.2",
        "data.corpus: only data.name = 'text' reads a corpus (data.name is 'mnist5k'), got "
        "'a.txt'",
        "model.width: the gpt's width is model.d_model, got width = 8",
    ]
    with pytest.raises(ConfigError, match=r"model.layers: only model.name = 'gpt' has layers"):
        parse_config({"model": {"name": "cnn", "layers": 2}})
    with pytest.raises(ConfigError, match=r"data.corpus: data.name = 'text' needs a corpus"):
        parse_config({"data": {"name": "text"}, "model": {"name": "gpt"}})
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "data": {"name": "shakespeare", "noise_rate": 0.3, "noise_type": "pair"},
                "model": {"name": "gpt"},
            }
        )
    assert str(info.value).splitlines()[1:] == [
        "data.noise_rate: the text datasets have no labels to flip; use data.contamination "
        "(and data.contamination_kind), got noise_rate = 0.3",
        "data.noise_type: the text datasets have no labels to flip; use data.contamination "
        "(and data.contamination_kind), got noise_type = 'pair'",
    ]
    # A factory's model with text data, or the gpt with a factory's data: one message each.
    for model in ({"factory": "m:f"}, {"factory": "m:f", "name": "gpt"}):
        with pytest.raises(ConfigError) as info:
            parse_config({"data": {"name": "shakespeare"}, "model": model})
        assert str(info.value).splitlines()[1:] == [
            "model.factory: a text dataset ('shakespeare') trains the built-in gpt, not a "
            "factory's model; leave model.factory out and set model.name = 'gpt'"
        ]
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"factory": "m:f"}, "model": {"name": "gpt"}})
    assert str(info.value).splitlines()[1:] == [
        "model.name: the gpt trains on the text datasets (data.name in ['shakespeare', "
        "'text']), not on a data.factory's datasets"
    ]
    with pytest.raises(ConfigError, match=r"data.contamination_kind: must be one of \['mixed'"):
        parse_config({"data": {"name": "shakespeare", "contamination_kind": "spam"}})
    # Keys added for text leave the fingerprint of an image config unchanged.
    from swift_sampler.config import default_config

    assert parse_config({"data": {"contamination": 0.0}}).fingerprint() == (
        default_config().fingerprint()
    )


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [
        ({"contamination": 1.0}, {}, r"data.contamination: must be a finite number in \[0, 1\)"),
        ({"contamination": -0.1}, {}, r"data.contamination: must be a finite number in \[0, 1\)"),
        ({"seq_len": 64}, {"context": 32}, "data.seq_len: a sequence of 64 tokens does not fit"),
        ({}, {"vocab_size": 40}, "model.vocab_size: the vocabulary of shakespeare has 85"),
        ({}, {"heads": 3}, r"model.d_model \(32\) must be a multiple of model.heads \(3\)"),
        ({"name": "text", "corpus": "MISSING"}, {}, "the corpus file .*MISSING does not exist"),
        ({"name": "text", "corpus": "EMPTY"}, {}, "is empty"),
        ({"name": "text", "corpus": "SHORT"}, {}, "shorter than one sequence"),
        ({"name": "text", "corpus": "LATIN1"}, {}, "is not UTF-8 text"),
    ],
)
def test_bad_input_exits_2_with_one_message_and_creates_nothing(
    tmp_path: Path, capsys, data: dict, model: dict, message: str
) -> None:  # type: ignore[no-untyped-def]
    import tomllib

    files = {
        "MISSING": None,
        "EMPTY": b"",
        "SHORT": b"Exeunt.",
        "LATIN1": "Ophélie ".encode("latin-1") * 40,
    }
    corpus = data.get("corpus")
    if corpus is not None:
        path = tmp_path / "corpus" / corpus
        path.parent.mkdir(exist_ok=True)
        if files[corpus] is not None:
            path.write_bytes(files[corpus])
        data = {**data, "corpus": str(path)}
    raw = tomllib.loads(TINY)
    raw["data"].update(data)
    raw["model"].update(model)
    config = tmp_path / "bad.toml"
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    config.write_text("\n".join(lines) + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["search", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("swift-sampler: error: ") and re.search(message, err)
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run directory
    out = tmp_path / "out"
    sampler = tmp_path / "sampler.json"
    sampler.write_text(json.dumps(template_spec(_config()).to_dict()))
    code = main(["train", str(config), "--sampler", str(sampler), "--out", str(out)])
    assert code == 2 and not out.exists()
    capsys.readouterr()


def test_the_console_script_runs_the_tiny_search(tmp_path: Path) -> None:
    config = tmp_path / "lm.toml"
    config.write_text(TINY.replace("trials = 2", "trials = 1"))
    exe = Path(sys.executable).with_name("swift-sampler")
    run = subprocess.run(
        [str(exe), "search", str(config), "--run-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best validation score ppl" in run.stdout


# Under torchrun -----------------------------------------------------------------------------

DDP_SCRIPT = r"""
import json, sys, tomllib
import torch
from swift_sampler import distributed
from swift_sampler.config import parse_config
from swift_sampler.search.setup import build_experiment

torch.set_num_threads(1)
distributed.init_from_env()
trainer = build_experiment(parse_config(tomllib.loads(sys.argv[2]))).trainer
state = trainer.new_state(0)
loss = trainer.train_epoch(state)  # uniform: the seeded permutation, striped over the ranks
features = trainer.features(state, ("loss", "er", "grad_norm"))
val = trainer.score(state, "val")  # a collective: every rank calls it
if distributed.rank() == 0:
    with open(sys.argv[1], "w") as f:
        json.dump({"loss": loss, "features": features.tolist(), "val": val}, f)
distributed.leave(wait=True)
distributed.exit_process(0)  # else a rank can abort at exit (gloo's threads)
"""


@pytest.mark.slow
def test_torchrun_trains_the_language_model_like_one_process(tmp_path: Path) -> None:
    import os

    script = tmp_path / "lm_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {}
    for name, prefix in (
        ("one", [sys.executable]),
        (
            "two",
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
        ),
    ):
        out = tmp_path / f"{name}.json"
        done = subprocess.run(
            [*prefix, str(script), str(out), TINY],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = json.loads(out.read_text())
    one, two = runs["one"], runs["two"]
    # The same instances per step, gradients averaged by DDP: only float order differs.
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-3)
    np.testing.assert_allclose(two["features"], one["features"], rtol=1e-3, atol=1e-4)
    assert two["val"] == pytest.approx(one["val"], rel=1e-3)
    assert one["val"] < -1


# experiments/lm.py's choices and targets --------------------------------------------------------


def test_lm_experiment_chooses_and_judges_by_lower_perplexity(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiments"))
    sys.modules.pop("lm", None)
    import lm  # type: ignore[import-not-found]

    def fake(val: list[float], test: list[float], share: float = 0.4) -> dict:
        best = int(np.argmax([-v for v in val]))
        return {
            "val_top1": [-v for v in val],
            "test_top1": [-t for t in test],
            "last": -test[-1],
            "best_val_epoch": best,
            "test_at_best_val": -test[best],
            "noisy_share": [share] * len(val),
            "seconds": 1.0,
        }

    # The rate with the lowest last-epoch validation perplexity wins.
    assert lm._choose({0.1: fake([9, 8], [9, 8]), 0.3: fake([9, 7], [9, 9])}) == 0.3
    assert lm.make_config(0.2, "cdf", 3, "smoke").data.contamination == 0.2
    assert lm.make_config(0.0, "cgf", 12, "full", layers=4).model.layers == 4
    done, chosen = {}, {("c40", "drop_r"): 0.2, ("c40", "infobatch"): 0.5}
    for method, ppl in (("uniform", 10.0), ("ss_cdf", 9.6), ("ss_cgf", 9.4)):
        done[lm._key("c40", method, 1, None)] = fake([ppl + 1, ppl], [ppl + 1, ppl])
    done[lm._key("c40", "drop_r", 1, 0.2)] = fake([9.6, 9.5], [9.6, 9.5])
    done[lm._key("c40", "infobatch", 1, 0.5)] = fake([11, 10.2], [11, 10.2])
    for method in ("uniform", "ss_cgf"):
        done[lm._key("c40", method, 1, None, 4)] = fake([9, 8.5], [9, 8.5])
    cost = {"total_epochs": 50.0, "full_training_epochs": 10.0, "total_s": 5.0}
    for method in ("ss_cdf", "ss_cgf"):
        done[f"search-c40-{method}"] = {"cost": cost, "best_val": -9.0}
    args = argparse.Namespace(seeds=[1], select_seed=0, trials=12, size="full")
    summary = lm.summarise(args, ["c40"], done, chosen)
    row = lm._row(summary["rows"], "c40", "ss_cgf")
    assert row["test_last_mean"] == 9.4 and row["search_trainings"] == 5.0
    checks = lm.targets(summary)
    assert checks[0].endswith("(+6.0%) -> met")  # 9.4 vs 10: 6% lower
    assert "drop-r% (r on val) 9.500" in checks[1] and checks[1].endswith("-> met")
    assert "| 40% | **SS (cgf)** | 9.400 ± 0.000 | 9.400 ± 0.000 |" in lm.markdown(summary, "cmd")
    sys.modules.pop("lm", None)
