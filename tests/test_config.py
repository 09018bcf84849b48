from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swift_sampler import config as config_module
from swift_sampler import portfolio
from swift_sampler.config import Config, SamplerConfig, default_config, load_config, parse_config
from swift_sampler.errors import ConfigError

_ROOT = Path(__file__).resolve().parents[1]


def _problems(data: dict[str, Any]) -> list[str]:
    """The problem lines of the ConfigError that parse_config raises for ``data``."""
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    header, *lines = str(info.value).splitlines()
    assert header == f"<config>: {len(lines)} problem{'s' if len(lines) > 1 else ''} in config:"
    return lines


def _changed() -> Config:
    """A config where every section differs from the defaults, with every optional key set."""
    return parse_config(
        {
            "data": {
                "name": "mnist1d",
                "noise_rate": 0.2,
                "noise_type": "pair",
                "seed": 3,
                "val_fraction": 0.15,
                "test_fraction": 0.25,
                "cache_dir": 'C:\\data\\"mnist" é\t\x7f',
            },
            "model": {"name": "conv1d", "width": 32},
            "train": {"epochs": 30, "lr": 0.1, "weight_decay": 0, "threads": 2},
            "sampler": {"features": ["margin", "grad_norm"], "transform": "cdf", "eps": 1e-9},
            "search": {
                "trials": 12,
                "startup_trials": 12,
                "outer": "tpe",
                "finetune_schedule": "tail",
                "shared_epochs": 20,
                "finetune_epochs": 10,
                "storage": "sqlite:///runs/study.db",
                "study_name": "exp 1",
                "start_thetas": [[0.25] * 10, [1, 0, 0.5, 0.5, 0.5, 1, 0.5, 0.5, 0.5, 0.5]],
            },
            "final": {"seeds": [4, 1, 7], "uniform": False},
        }
    )


def test_empty_config_is_the_defaults() -> None:
    config = parse_config({})
    assert config == default_config()
    assert config.data.name == "mnist5k" and config.data.noise_rate == 0.4
    assert config.data.test_fraction is None and config.model.width is None
    assert config.train.epochs == 20 and config.train.lr == 0.05
    assert config.sampler.features == ("loss", "er") and config.sampler.transform == "cgf"
    assert config.sampler.num_params == 10
    assert config.search.shared_epochs == 8 and config.search.finetune_epochs == 12
    assert config.final.seeds == (1,) and config.final.uniform is True
    # A classifier with the default [sampler] and no [search] of its own gets the preset: the
    # uniform sampler and the four portfolio thetas, screened on a third of the 12-epoch tail.
    s = config.search
    assert s.preset == "swift" and (s.trials, s.startup_trials, s.portfolio) == (5, 0, 4)
    assert (s.pruner, s.min_resource, s.epoch_parts) == ("synchronous_halving", 4, 1)
    assert (s.finalists, s.refresh_every, s.outer) == (2, 3, "gp")
    # The dataclasses' own defaults are the full search.
    full = Config()
    assert full != config and full.data == config.data and full.sampler == config.sampler
    assert full.search.preset is None and full.search.trials == 20
    assert full.search.pruner == "none" and full.search.portfolio == 0


_NEUTRAL_SEARCH_KEYS = {
    "seed": 3,
    "shared_fraction": 0.25,
    "shared_epochs": 6,
    "finetune_epochs": 9,
    "finetune_schedule": "tail",
    "storage": "sqlite:///runs/study.db",
    "study_name": "mine",
    "start_thetas": [[0.5] * 10],
}
"""The [search] keys that keep ``preset = "auto"``'s swift preset, with a value each."""


@pytest.mark.parametrize("key", [f.name for f in dataclasses.fields(config_module.SearchConfig)])
def test_every_search_key_either_keeps_or_turns_off_the_automatic_preset(key: str) -> None:
    """A key that shapes the search turns it off even at its default value (``trials = 20``
    asks for 20 trials of the GP); a new key must be put on one side or the other."""
    if key == "preset":
        return
    if key in _NEUTRAL_SEARCH_KEYS:
        assert key not in config_module.SEARCH_SHAPING_KEYS
        kept = parse_config({"search": {key: _NEUTRAL_SEARCH_KEYS[key]}}).search
        assert kept.preset == "swift" and kept.portfolio == 4, key
        return
    assert key in config_module.SEARCH_SHAPING_KEYS
    config = parse_config({"search": {key: getattr(config_module.SearchConfig(), key)}})
    assert config == Config(), key
    assert config.search.preset is None and config.search.trials == 20


def test_the_automatic_preset_follows_the_evidence() -> None:
    """``auto`` (or no key) is the preset for a classifier with the default family, the full
    search for text and for other families; ``swift`` and ``none`` are taken as written."""
    assert parse_config({"search": {"preset": "auto"}}) == default_config()
    # Keys that do not shape the search keep it, and the preset follows the schedule.
    kept = parse_config(
        {
            "data": {"name": "digits", "noise_type": "pair"},
            "model": {"name": "mlp"},
            "train": {"epochs": 30},
            "sampler": {"draw": "stratified", "transform": "cgf"},
            "search": {"seed": 3, "shared_fraction": 0.2, "start_thetas": [[0.5] * 10]},
        }
    ).search
    assert kept.preset == "swift" and kept.trials == 6  # the uniform, 4 portfolio, yours
    assert (kept.shared_epochs, kept.finetune_epochs, kept.min_resource) == (6, 24, 8)
    # Other families have no portfolio; text had its own evidence (lm_preset: GP better).
    for other in ({"lipschitz": 8.0}, {"transform": "cdf"}, {"features": ["loss"]}):
        assert parse_config({"sampler": other}).search == Config().search, other
    # Your own data and networks are classifiers too; None is an absent preset (auto).
    for own in (
        {"data": {"name": "arrays", "path": "d.npz"}},
        {"data": {"factory": "pkg.mod:build"}, "model": {"factory": "pkg.mod:net"}},
        {"search": {"preset": None}},
    ):
        assert parse_config(own).search.preset == "swift", own
    with pytest.raises(ConfigError, match="search: must be a table"):
        parse_config({"search": ["trials"]})
    text = parse_config({"data": {"name": "shakespeare"}, "model": {"name": "gpt"}})
    assert text.search.preset is None and text.search.trials == 20
    assert parse_config({"search": {"preset": "none"}}) == Config()
    # An explicit preset is applied whatever else [search] says; the keys you set win.
    explicit = parse_config({"search": {"preset": "swift", "trials": 9, "startup_trials": 4}})
    assert (explicit.search.preset, explicit.search.trials) == ("swift", 9)
    assert explicit.search.portfolio == 4 and explicit.search.startup_trials == 4


def test_a_run_config_written_before_the_automatic_preset_resumes_unchanged() -> None:
    """config.toml writes every key and leaves a None preset out, so a run directory's
    config (an empty config of earlier versions: the full search) reads back as it was."""
    written = Config().to_toml()
    assert "preset" not in written and "trials = 20" in written
    again = parse_config(tomllib.loads(written))
    assert again == Config() and again.fingerprint() == Config().fingerprint()
    swift = default_config()
    assert 'preset = "swift"' in swift.to_toml()
    assert parse_config(tomllib.loads(swift.to_toml())) == swift


def test_a_bad_value_beside_the_automatic_preset_is_reported_alone() -> None:
    # A bad family key leaves the search full: no portfolio problem beside it.
    own = {"start_thetas": [list(portfolio.THETAS[0])]}
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"lipschitz": -1.0}, "search": own})
    assert "1 problem" in str(err.value) and "sampler.lipschitz: " in str(err.value)
    assert "preset" not in str(err.value)


def test_the_automatic_presets_problems_say_how_to_keep_it() -> None:
    """Under ``auto`` a key of the preset set alone turns it off, so "set it to override"
    would be wrong advice: the messages say to write preset = 'swift' beside it."""
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"start_thetas": [list(portfolio.THETAS[0])]}})
    assert str(err.value).endswith(
        "leave it out (search.portfolio = 4 from the automatic search.preset = 'swift'; "
        "setting it in [search] alone asks for the full search instead: write preset = "
        "'swift' beside it to keep the preset with your value)"
    )
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"finalists": 3}})
    assert str(err.value).endswith(
        "set that pruner or leave finalists out ([search] sets search.finalists, so it is the "
        "full search, not the automatic swift preset; write preset = 'swift' beside it to "
        "keep the preset with your values)"
    )
    # Every key that turned it off is named.
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"reduction_factor": 2, "outer": "random"}})
    assert "([search] sets search.reduction_factor, search.outer, so" in str(err.value)
    assert "beside them to keep the preset" in str(err.value)
    # With a pruner of the config's own the preset is not the point: no such note.
    for key, value in (("keep_uniform", True), ("min_resource", 100)):
        with pytest.raises(ConfigError) as err:
            parse_config({"search": {"pruner": "successive_halving", key: value}})
        assert f"search.{key}: " in str(err.value) and "preset" not in str(err.value)
    # Written out, the preset takes the value.
    assert parse_config({"search": {"preset": "swift", "finalists": 3}}).search.finalists == 3
    # A problem of the full search that a config asked for is not blamed on the preset.
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"transform": "cdf"}, "search": {"finalists": 3}})
    assert "automatic" not in str(err.value)


def test_config_is_frozen_and_stores_tuples() -> None:
    config = _changed()
    assert config.final.seeds == (4, 1, 7)
    assert config.sampler.features == ("margin", "grad_norm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.search.trials = 3  # type: ignore[misc]


@pytest.mark.parametrize("make", [default_config, _changed])
def test_toml_round_trip_keeps_config_and_fingerprint(make: Any) -> None:
    config = make()
    again = parse_config(tomllib.loads(config.to_toml()))
    assert again == config
    assert again.fingerprint() == config.fingerprint()


@pytest.mark.parametrize("make", [default_config, _changed])
def test_to_dict_is_plain_json_and_parses_back(make: Any) -> None:
    config = make()
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain types only: lists, not tuples
    assert data["data"]["test_fraction"] == config.data.test_fraction
    assert sum(len(section) for section in data.values()) == 72  # every field, defaults too
    assert parse_config(data) == config


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[search]\ntrials = 10\nouter = "random"\n', encoding="utf-8")
    config = load_config(path)
    assert config.search.trials == 10 and config.search.outer == "random"
    assert config.search.startup_trials == 8 and config.data == default_config().data
    assert load_config(str(path)) == config


def test_fingerprint_is_sha256_of_canonical_json() -> None:
    config = Config()  # the full search: every added key at its default
    data = config.to_dict()
    for section, keys in config_module._ADDED_KEYS.items():
        for key in keys:
            del data[section][key]  # added later: left out at their defaults
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert config.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(config.fingerprint()) == 64
    # A study stored before these keys existed (its config has none of them) still matches,
    # and a config that sets one differs.
    assert parse_config(data).fingerprint() == config.fingerprint()
    pruned = parse_config({"search": {"pruner": "successive_halving"}})
    assert pruned.fingerprint() != config.fingerprint()
    patient = parse_config({"search": {"patience": 5}})
    assert patient.fingerprint() not in (config.fingerprint(), pruned.fingerprint())


def test_start_thetas_are_float_tuples_after_the_portfolio() -> None:
    config = _changed()
    assert config.search.start_thetas[1] == (1.0, 0.0, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5)
    assert all(type(x) is float for theta in config.search.start_thetas for x in theta)
    assert config.start_thetas == config.search.start_thetas  # portfolio = 0
    both = parse_config({"search": {"portfolio": 1, "start_thetas": [[0.25] * 10]}})
    assert both.start_thetas == (portfolio.THETAS[0], (0.25,) * 10)
    assert both.fingerprint() != parse_config({"search": {"portfolio": 1}}).fingerprint()


def test_start_keys_report_every_problem_at_once() -> None:
    too_many = len(portfolio.THETAS) + 1
    bad = {
        "sampler": {"segments": 3},
        "search": {
            "trials": 3,
            "startup_trials": 0,
            "portfolio": too_many,
            "start_thetas": [[0.5] * 8, [0.5] * 9],
        },
    }
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    text = str(err.value)
    assert "4 problems" in text
    assert (
        f"search.portfolio: the built-in portfolio holds {len(portfolio.THETAS)} thetas, "
        f"got {too_many}"
    ) in text
    assert "search.start_thetas: every theta must have M (S + 1) = 2 x 4 = 8 numbers" in text
    assert "but entry 1 has 9" in text
    assert "3 trials leave room for 2 start thetas" in text
    assert f"search.portfolio asks for {too_many}" in text
    assert "sampler.segments = 3 (the portfolio's: 4)" in text

    for theta, where in (([0.5] * 9 + [1.5], "entry 0, position 9: 1.5"), ([], "entry 0")):
        with pytest.raises(ConfigError, match=re.escape(where)):
            parse_config({"search": {"start_thetas": [theta]}})
    with pytest.raises(ConfigError, match=re.escape("entries [1] repeat earlier ones")):
        parse_config({"search": {"start_thetas": [[0.5] * 10, [0.5] * 10]}})
    with pytest.raises(ConfigError, match="must be a list of distinct thetas"):
        parse_config({"search": {"start_thetas": "portfolio"}})
    again = {"portfolio": 2, "start_thetas": [list(portfolio.THETAS[1])]}
    with pytest.raises(ConfigError) as err:
        parse_config({"search": again})
    assert "entry 0 is the portfolio's theta 1, which search.portfolio = 2 already tries" in (
        str(err.value)
    )
    parse_config({"search": {**again, "portfolio": 1}})  # theta 1 is not tried then


def test_the_fingerprint_holds_the_portfolios_thetas(monkeypatch) -> None:
    config = parse_config({"search": {"portfolio": 2}})
    before = config.fingerprint()
    changed = (portfolio.THETAS[0], (0.5,) * 10, *portfolio.THETAS[2:])
    monkeypatch.setattr(config_module, "PORTFOLIO_THETAS", changed)
    assert config.fingerprint() != before  # a resumed study refuses other built-in thetas
    monkeypatch.setattr(config_module, "PORTFOLIO_THETAS", (*portfolio.THETAS[:2], (0.5,) * 10))
    assert config.fingerprint() == before  # the thetas it does not try do not matter


def test_the_swift_preset_fills_what_the_config_leaves_unset() -> None:
    demo = {"train": {"epochs": 20}, "search": {"preset": "swift"}}
    config = parse_config(demo)
    s = config.search
    assert {k: getattr(s, k) for k in config_module.SWIFT_PRESET} == config_module.SWIFT_PRESET
    assert config.epochs_split == (8, 12)
    assert (s.epoch_parts, s.min_resource) == (1, 4)  # a third of the 12-epoch tail
    assert config.start_thetas == portfolio.THETAS  # the whole portfolio
    # The first rung is exactly a third of the tail: whole epochs when the tail's epochs
    # divide by 3, else thirds of an epoch (epochs -> tail: 60 -> 36, 10 -> 6, 8 -> 5, ...).
    for epochs, parts, first in ((60, 1, 12), (10, 1, 2), (8, 3, 5), (4, 3, 2), (2, 3, 1)):
        s = parse_config({"train": {"epochs": epochs}, "search": {"preset": "swift"}}).search
        assert (s.epoch_parts, s.min_resource) == (parts, first), epochs
        assert 3 * s.min_resource == s.finetune_epochs * s.epoch_parts
        assert s.min_resource < s.finetune_epochs * s.epoch_parts  # a rung before the end
    # What the config sets wins over the preset; epoch_parts alone still gets a third.
    mine = parse_config({"search": {"preset": "swift", "finalists": 3, "min_resource": 2}})
    assert (mine.search.finalists, mine.search.min_resource, mine.search.trials) == (3, 2, 5)
    assert mine.search.epoch_parts == 1
    parts = parse_config({"search": {"preset": "swift", "epoch_parts": 2}}).search
    assert (parts.epoch_parts, parts.min_resource) == (2, 8)  # 12 epochs x 2 parts / 3
    none = parse_config({"search": {"preset": "swift", "pruner": "none"}}).search
    assert (none.pruner, none.epoch_parts, none.min_resource) == ("none", 1, 1)
    # Your own thetas get a trial each on top of the uniform sampler and the portfolio,
    # unless trials is set, when the message says the preset would have made room.
    theta = (0.5, 0.25, 0.75, 1.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
    own = parse_config({"search": {"preset": "swift", "start_thetas": [theta]}})
    assert own.search.trials == 6
    assert own.start_thetas == (*portfolio.THETAS, theta)
    # Start-up points you ask for get trials too; without a portfolio the preset's 5 stay.
    sobol = parse_config({"search": {"preset": "swift", "startup_trials": 3}}).search
    assert (sobol.trials, sobol.startup_trials) == (8, 3)
    bare = parse_config({"search": {"preset": "swift", "portfolio": 0}}).search
    assert (bare.trials, bare.portfolio) == (5, 0)
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"preset": "swift", "start_thetas": [theta], "trials": 5}})
    assert "1 problem" in str(err.value)
    assert "makes room for all of them when trials is left out" in str(err.value)
    # The same search as the keys written out, and a config that round-trips.
    written = {**demo["search"], **config_module.SWIFT_PRESET, "min_resource": 4}
    explicit = parse_config({"train": {"epochs": 20}, "search": written})
    assert explicit == config
    assert parse_config(config.to_dict()) == config
    # The preset enters the fingerprint like any key (studies stored with it keep theirs).
    unnamed = {k: v for k, v in written.items() if k != "preset"}
    plain = parse_config({"train": {"epochs": 20}, "search": unnamed})
    assert plain != config and plain.fingerprint() != config.fingerprint()
    full = parse_config({"train": {"epochs": 20}, "search": {"preset": "none"}})
    assert config.fingerprint() != full.fingerprint()


def test_data_samples_sizes_mnist1d_and_nothing_else() -> None:
    config = parse_config({"data": {"name": "mnist1d", "samples": 15000}})
    assert config.data.samples == 15000
    assert config.fingerprint() != parse_config({"data": {"name": "mnist1d"}}).fingerprint()
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "data": {"name": "mnist5k", "samples": 1000},
                "train": {"epochs": 0},
            }
        )
    assert "2 problems" in str(err.value)
    assert "data.samples: only the generated mnist1d has a size to choose" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"name": "mnist1d", "samples": 1005}})
    assert "data.samples: must be a multiple of 10" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"name": "mnist1d", "samples": 50}})
    assert "data.samples: must be an integer in [100, 10000000]" in str(err.value)


def test_feature_history_is_a_sampler_key_the_spec_and_portfolio_see() -> None:
    from swift_sampler.search.setup import template_spec

    config = parse_config({"sampler": {"history": 0.5}})
    assert config.sampler.history == 0.5 and template_spec(config).history == 0.5
    assert config.fingerprint() != parse_config({}).fingerprint()
    assert parse_config(config.to_dict()) == config
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"history": 1.0}, "search": {"preset": "swift"}})
    assert "1 problem" in str(err.value)
    assert "sampler.history: must be a finite number in [0, 1), got 1.0" in str(err.value)
    # The portfolio's thetas were found on snapshot features.
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"history": 0.5}, "search": {"portfolio": 2, "trials": 5}})
    assert "sampler.history = 0.5 (the portfolio's: 0.0)" in str(err.value)


def test_draw_is_a_sampler_key_the_spec_sees() -> None:
    from swift_sampler.search.setup import template_spec

    config = parse_config({"sampler": {"draw": "stratified"}})
    assert config.sampler.draw == "stratified"
    assert template_spec(config).draw == "stratified"
    assert config.fingerprint() != parse_config({}).fingerprint()
    assert (
        parse_config({"sampler": {"draw": "iid"}}).fingerprint() == parse_config({}).fingerprint()
    )
    assert parse_config(config.to_dict()) == config
    # The portfolio's thetas mean the same functions whatever the draw.
    assert parse_config({"sampler": {"draw": "stratified"}, "search": {"preset": "swift"}})
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"draw": "poisson", "lipschitz": 0}})
    assert "2 problems" in str(err.value)
    assert "sampler.draw: must be one of ['iid', 'stratified'], got 'poisson'" in str(err.value)


def test_instance_noise_is_a_data_key_that_keeps_the_automatic_preset() -> None:
    config = parse_config({"data": {"noise_type": "instance", "noise_rate": 0.3}})
    assert (config.data.noise_type, config.data.noise_rate) == ("instance", 0.3)
    assert config.search.preset == "swift"  # a noise type is data, not a search key
    assert parse_config(config.to_dict()) == config
    assert config.fingerprint() != parse_config({"data": {"noise_rate": 0.3}}).fingerprint()
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"noise_type": "idn", "noise_rate": 1.5}})
    assert "2 problems" in str(err.value)
    assert "data.noise_type: must be one of ['symmetric', 'pair', 'instance'], got 'idn'" in str(
        err.value
    )


def test_knot_increments_are_a_sampler_key_the_spec_and_portfolio_see() -> None:
    from swift_sampler.search.setup import template_spec

    config = parse_config({"sampler": {"increments": "scaled"}})
    assert config.sampler.increments == "scaled"
    assert template_spec(config).increments == "scaled"
    assert config.fingerprint() != parse_config({}).fingerprint()
    # The default leaves the fingerprint of studies stored before the key existed alone.
    assert parse_config({"sampler": {"increments": "clipped"}}).fingerprint() == (
        parse_config({}).fingerprint()
    )
    assert parse_config(config.to_dict()) == config
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"increments": "soft", "history": 2.0}})
    assert "2 problems" in str(err.value)
    assert "sampler.increments: must be one of ['clipped', 'scaled'], got 'soft'" in str(err.value)
    # The portfolio's thetas mean their functions only with clipped increments.
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"increments": "scaled"}, "search": {"preset": "swift"}})
    assert 'sampler.increments = "scaled" (the portfolio\'s: "clipped")' in str(err.value)


def test_a_bad_or_clashing_preset_is_one_clear_problem() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"preset": "fast"}})
    assert "1 problem" in str(err.value)
    assert (
        "search.preset: must be one of ['auto', 'swift', 'none'] (or absent), got 'fast'"
        in str(err.value)
    )
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"lipschitz": 8.0}, "search": {"preset": "swift"}})
    assert "sampler.lipschitz = 8.0 (the portfolio's: 2.0)" in str(err.value)
    assert "search.preset = 'swift' tries the whole portfolio: drop the preset" in str(err.value)
    # A problem with a value the preset set says so: the user never wrote trials = 5.
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"preset": "swift", "patience": 5}})
    assert "1 problem" in str(err.value)
    assert (
        "search.patience: must be < search.trials (5) (0 turns the stopping rule off), got 5 "
        "(search.trials = 5 from search.preset = 'swift'; set it in [search] to override)"
    ) in str(err.value)
    # A key the config sets is not blamed on the preset.
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"preset": "swift", "patience": 5, "trials": 5}})
    assert "from search.preset" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        one_epoch = {"shared_epochs": 19, "epoch_parts": 1}
        parse_config({"train": {"epochs": 20}, "search": {"preset": "swift", **one_epoch}})
    assert "(search.pruner = 'synchronous_halving' from search.preset = 'swift'" in str(err.value)
    # Problems about a key the config sets, whose cause is the preset's pruner, name it too.
    for key, value in (("bootstrap_count", 2), ("min_resource", 50)):
        with pytest.raises(ConfigError) as err:
            parse_config({"search": {"preset": "swift", key: value}})
        assert f"search.{key}: " in str(err.value)
        assert (
            "(search.pruner = 'synchronous_halving' from search.preset = 'swift'; set it in "
            "[search] to override)"
        ) in str(err.value)


def test_integers_past_what_torch_numpy_and_itertools_take_are_refused() -> None:
    """A seed of 2e13 overflowed the per-epoch shuffle seed, a batch size of 1e20
    itertools.islice, a thread count torch, all as internal errors after the run directory
    was made; data.samples = 1e20 generated for ever. Each is now a config problem."""
    raw = {
        "data": {"name": "mnist1d", "samples": 10**20},
        "train": {"seed": 20_000_000_000_000, "threads": 10**20, "batch_size": 10**20},
        "final": {"seeds": [1, 10**14]},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    text = str(err.value)
    assert "5 problems" in text
    assert "data.samples: must be an integer in [100, 10000000] (or absent), got 1" in text
    assert "train.seed: must be an integer in [0, 2147483647], got 20000000000000" in text
    assert "train.threads: must be an integer in [1, 1024] (or absent), got 1" in text
    assert "train.batch_size: must be an integer in [1, 2147483647], got 1" in text
    assert "final.seeds: must be a non-empty list of distinct integers in [0, 2147483647]" in text
    # The cap is the last value accepted; below it the messages name only the lower bound.
    edge = parse_config({"train": {"seed": 2**31 - 1, "batch_size": 2**31 - 1}})
    assert (edge.train.seed, edge.train.batch_size) == (2**31 - 1, 2**31 - 1)
    with pytest.raises(ConfigError, match=r"train\.batch_size: must be an integer >= 1, got 0"):
        parse_config({"train": {"batch_size": 0}})


def test_pruner_and_stopping_keys_report_every_problem_at_once() -> None:
    bad = {
        "search": {
            "pruner": "hyperbnd",
            "reduction_factor": 1,
            "min_resource": 0,
            "patience": -1,
            "min_improvement": -0.1,
        }
    }
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    text = str(err.value)
    assert "5 problems" in text
    assert (
        "search.pruner: must be one of ['none', 'successive_halving', 'hyperband', "
        "'synchronous_halving']" in text
    )
    assert "did you mean 'hyperband'?" in text
    assert "search.reduction_factor: must be an integer >= 2, got 1" in text
    assert "search.min_resource: must be an integer >= 1, got 0" in text
    assert "search.patience: must be an integer >= 0, got -1" in text
    assert "search.min_improvement: must be a finite number >= 0, got -0.1" in text


def test_a_pruner_key_the_chosen_pruner_ignores_is_refused_unless_default() -> None:
    # Asked for, but the search would not do it: every such key in one message.
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"reduction_factor": 4, "min_resource": 2, "finalists": 3}})
    text = str(err.value)
    assert "3 problems" in text
    assert (
        'search.reduction_factor: read only with a pruner (here "none"), got 4; set one or '
        "leave reduction_factor out" in text
    )
    assert 'search.min_resource: read only with a pruner (here "none"), got 2' in text
    assert (
        'search.finalists: read only with search.pruner = "synchronous_halving" (here "none"), '
        "got 3; set that pruner or leave finalists out" in text
    )
    with pytest.raises(ConfigError) as err:
        parse_config({"search": {"pruner": "hyperband", "keep_uniform": True}})
    assert 'search.keep_uniform: read only with search.pruner = "synchronous_halving" (here ' in (
        str(err.value)
    )
    # Default values pass (config.toml writes every key), and the keys pass with their pruner.
    plain = parse_config(
        {"search": {"reduction_factor": 3, "finalists": 2, "keep_uniform": False}}
    )
    assert parse_config(plain.to_dict()) == plain
    sync = parse_config(
        {"search": {"pruner": "synchronous_halving", "finalists": 3, "keep_uniform": True}}
    )
    assert (sync.search.finalists, sync.search.keep_uniform) == (3, True)
    assert parse_config({"search": {"pruner": "hyperband", "reduction_factor": 4}})


def test_a_pruner_needs_a_rung_before_the_last_epoch() -> None:
    with pytest.raises(ConfigError, match=r"needs search\.finetune_epochs >= 2"):
        parse_config({"search": {"pruner": "hyperband", "finetune_epochs": 1}})
    with pytest.raises(ConfigError, match=r"min_resource: must be < search\.finetune_epochs"):
        parse_config({"search": {"pruner": "successive_halving", "min_resource": 12}})
    with pytest.raises(ConfigError, match=r"search.patience: must be < search.trials \(10\)"):
        parse_config({"search": {"trials": 10, "startup_trials": 2, "patience": 10}})
    ok = parse_config({"search": {"pruner": "successive_halving", "min_resource": 4}})
    assert (ok.search.pruner, ok.search.min_resource, ok.search.reduction_factor) == (
        "successive_halving",
        4,
        3,
    )


def test_swift_search_keys_are_checked_together() -> None:
    # A 1-epoch fine-tune in 3 parts has steps to prune at; the first rung counts parts.
    ok = parse_config(
        {
            "search": {
                "pruner": "successive_halving",
                "finetune_epochs": 1,
                "epoch_parts": 3,
                "min_resource": 2,
                "bootstrap_count": 2,
                "refresh_every": 4,
            }
        }
    )
    s = ok.search
    assert (s.epoch_parts, s.min_resource, s.bootstrap_count, s.refresh_every) == (3, 2, 2, 4)
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "search": {
                    "pruner": "none",
                    "epoch_parts": 4,
                    "bootstrap_count": 1,
                    "refresh_every": 0,
                }
            }
        )
    text = str(err.value)
    assert "search.epoch_parts: 4 parts per epoch only matter to a pruner" in text
    assert "search.bootstrap_count: works with search.pruner = 'successive_halving' only" in text
    assert "search.refresh_every: must be an integer >= 1, got 0" in text
    with pytest.raises(ConfigError, match=r"finetune_epochs \(12\) \* search.epoch_parts = 24"):
        parse_config({"search": {"pruner": "hyperband", "epoch_parts": 2, "min_resource": 24}})
    # New keys at their defaults leave an old study's fingerprint as it was.
    plain = parse_config({"search": {"trials": 5, "startup_trials": 2}})
    same = parse_config(
        {
            "search": {
                "trials": 5,
                "startup_trials": 2,
                "epoch_parts": 1,
                "bootstrap_count": 0,
                "refresh_every": 1,
            }
        }
    )
    assert plain.fingerprint() == same.fingerprint()
    changed = parse_config({"search": {"trials": 5, "startup_trials": 2, "refresh_every": 2}})
    assert changed.fingerprint() != plain.fingerprint()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("search", "trials", 41),
        ("sampler", "eps", 1e-5),
        ("data", "test_fraction", 0.2),  # the loader's default, but set explicitly
        ("final", "uniform", False),
    ],
)
def test_a_changed_value_changes_the_fingerprint(section: str, key: str, value: Any) -> None:
    full = {"search": {"preset": "none"}}  # trials would turn the automatic preset off
    changed = parse_config({**full, section: {**full.get(section, {}), key: value}})
    assert changed != Config()
    assert changed.fingerprint() != Config().fingerprint()


def test_int_for_float_is_accepted_and_equals_the_float() -> None:
    as_int = parse_config({"train": {"lr": 1, "weight_decay": 0}})
    as_float = parse_config({"train": {"lr": 1.0, "weight_decay": 0.0}})
    assert isinstance(as_int.train.lr, float) and as_int.train.lr == 1.0
    assert as_int == as_float and as_int.fingerprint() == as_float.fingerprint()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("search", "trials", True),
        ("train", "threads", False),
        ("train", "lr", True),
        ("final", "seeds", [0, True]),
        ("final", "uniform", 1),
        ("search", "shared_fraction", True),
    ],
)
def test_bool_is_not_a_number(section: str, key: str, value: Any) -> None:
    (line,) = _problems({section: {key: value}})
    assert line.startswith(f"{section}.{key}: must be ")
    assert line.endswith(f"got {value!r}")


def test_rule_and_value_in_message() -> None:
    assert _problems({"search": {"trials": "ten"}}) == [
        "search.trials: must be an integer >= 1, got 'ten'"
    ]
    assert _problems({"data": {"noise_rate": 1}}) == [
        "data.noise_rate: must be a finite number in [0, 1), got 1"
    ]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("data", "noise_rate", -0.1),
        ("data", "val_fraction", 0),
        ("data", "test_fraction", 1.0),
        ("data", "seed", -1),
        ("data", "cache_dir", ""),
        ("model", "width", 0),
        ("train", "lr", 0),
        ("train", "lr", float("inf")),
        ("train", "momentum", 1.0),
        ("train", "weight_decay", float("nan")),
        ("sampler", "segments", 0),
        ("sampler", "eps", 1),
        ("sampler", "features", []),
        ("sampler", "features", "loss"),
        ("sampler", "features", ["loss", "loss"]),
        ("search", "startup_trials", -1),
        ("search", "shared_fraction", 0),
        ("search", "shared_fraction", 1.0),
        ("search", "shared_epochs", 0),
        ("search", "finetune_epochs", 0),
        ("search", "finetune_schedule", "head"),
        ("search", "study_name", ""),
        ("final", "seeds", []),
        ("final", "seeds", [-1]),
        ("final", "seeds", [2, 2]),
    ],
)
def test_out_of_range_values_are_rejected(section: str, key: str, value: Any) -> None:
    (line,) = _problems({section: {key: value}})
    assert line.startswith(f"{section}.{key}: must be ")


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("data", "noise_rate", 0),
        ("data", "val_fraction", 0.79),
        ("data", "test_fraction", 0.5),
        ("train", "momentum", 0),
        ("sampler", "features", ["grad_norm"]),  # fine with cdf; see the cgf rule below
        ("search", "startup_trials", 0),
        ("search", "startup_trials", 20),
        ("search", "shared_epochs", 19),
    ],
)
def test_edge_values_are_accepted(section: str, key: str, value: Any) -> None:
    extra = {"transform": "cdf"} if section == "sampler" else {}
    config = parse_config({section: {key: value, **extra}})
    assert getattr(getattr(config, section), key) == (
        tuple(value) if isinstance(value, list) else value
    )


def test_five_kinds_of_problem_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[serach]\ntrials = 3\n\n"
        "[data]\nnosie_rate = 0.2\n\n"
        '[train]\nlr = "fast"\nmomentum = 1.5\n\n'
        "[search]\nshared_epochs = 25\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    header, *lines = message.splitlines()
    assert header == f"{path}: 5 problems in config:"
    assert [line.split(":")[0].split(" ")[0] for line in lines] == [
        "unknown",
        "data.nosie_rate",
        "train.lr",
        "train.momentum",
        "search.shared_epochs",
    ]
    assert lines[0].startswith("unknown section 'serach' (known: data, model, train,")
    assert lines[4] == "search.shared_epochs: must be < train.epochs (20), got 25"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"search": {"trials": 5}},
            "search.startup_trials: must be <= search.trials (5), got 8",
        ),
        (
            {"train": {"epochs": 15}, "search": {"shared_epochs": 15}},
            "search.shared_epochs: must be < train.epochs (15), got 15",
        ),
        (
            {"train": {"epochs": 1}},
            "train.epochs: a search needs at least 2 epochs (a shared start, then the "
            "fine-tunes), got 1",
        ),
        (
            {"search": {"finetune_schedule": "tail", "finetune_epochs": 13}},
            "search.finetune_epochs: with search.finetune_schedule = 'tail', "
            "search.shared_epochs + search.finetune_epochs must be <= train.epochs (20), "
            "got 8 + 13 = 21",
        ),
        (
            {"sampler": {"features": ["loss", "grad_norm"]}},
            "sampler.features: 'grad_norm' cannot be a feature with sampler.transform = 'cgf' "
            "(cgf uses it as the weight), got ['loss', 'grad_norm']",
        ),
        (
            {"data": {"val_fraction": 0.5, "test_fraction": 0.5}},
            "data.test_fraction: data.val_fraction + data.test_fraction must be < 1 to leave "
            "training data, got 0.5 + 0.5",
        ),
        (
            {"data": {"val_fraction": 0.8}},
            "data.val_fraction: must be < 0.8 with data.test_fraction unset (the default test "
            "share is 0.2) to leave training data, got 0.8",
        ),
    ],
)
def test_cross_field_rules(data: dict[str, Any], expected: str) -> None:
    assert _problems(data) == [expected]


def test_compressed_schedule_does_not_need_room_after_shared_epochs() -> None:
    config = parse_config(
        {"search": {"shared_epochs": 19, "finetune_epochs": 16, "finetune_schedule": "compressed"}}
    )
    assert config.search.finetune_schedule == "compressed"


@pytest.mark.parametrize(
    ("raw", "split"),
    [
        ({}, (8, 12)),
        ({"train": {"epochs": 40}}, (16, 24)),
        ({"train": {"epochs": 60}, "search": {"shared_fraction": 0.75}}, (45, 15)),
        ({"train": {"epochs": 8}}, (3, 5)),
        ({"train": {"epochs": 2}}, (1, 1)),
        ({"train": {"epochs": 40}, "search": {"shared_epochs": 12}}, (12, 28)),
        ({"train": {"epochs": 40}, "search": {"finetune_epochs": 4}}, (16, 4)),
    ],
)
def test_the_default_protocol_scales_with_the_schedule(raw: Any, split: Any) -> None:
    # E_s is a share of the schedule and E_o the exact rest of it, unless given in epochs.
    config = parse_config(raw)
    assert config.epochs_split == split
    assert (config.search.shared_epochs, config.search.finetune_epochs) == split
    assert config.search.finetune_schedule == "tail"
    assert parse_config(config.to_dict()) == config  # the resolved values round-trip


def test_cross_field_rule_is_skipped_when_a_key_already_failed() -> None:
    # A bad train.epochs is reported once, not again as "shared_epochs must be < ...".
    assert _problems({"train": {"epochs": 0}}) == ["train.epochs: must be an integer >= 1, got 0"]


def test_did_you_mean() -> None:
    lines = _problems(
        {
            "serach": {},
            "data": {"nosie_rate": 0.2, "name": "mnist"},
            "sampler": {"features": ["loss", "eer"]},
            "model": {"xyzzy": 1},
        }
    )
    assert lines[0].endswith("; did you mean 'search'?")
    assert lines[1] == (
        "data.name: must be one of ['digits', 'mnist5k', 'mnist1d', 'shakespeare', 'text', "
        "'arrays', 'folder'], got 'mnist'; did you mean 'mnist5k'?"
    )
    assert lines[2].startswith("data.nosie_rate: unknown key (known: name, noise_rate,")
    assert lines[2].endswith("; did you mean 'noise_rate'?")
    assert lines[3] == (
        "model.xyzzy: unknown key (known: name, width, factory, kwargs, layers, d_model, "
        "heads, context, vocab_size)"
    )
    assert lines[4].endswith("got ['loss', 'eer']; did you mean 'er' for 'eer'?")


def test_section_that_is_not_a_table() -> None:
    assert _problems({"data": 3}) == ["data: must be a table ([data]), got 3"]
    with pytest.raises(ConfigError, match="must be a table of sections"):
        parse_config([("data", {})])  # type: ignore[arg-type]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"config file not found: {path}"
    # A path that exists but is no file is not "not found" (a FIFO would block the read).
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"config file {tmp_path} is a directory; give the .toml file"
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load_config(fifo)
    assert str(info.value) == f"config file {fifo} is not a regular file; give the .toml file"


@pytest.mark.parametrize("name", sorted(p.name for p in (_ROOT / "configs").glob("*.toml")))
def test_every_bundled_config_reads_back_from_its_run_directory_copy(name: str) -> None:
    """A run writes ``config.to_toml()`` into its directory, and ``search DIR/config.toml
    --resume`` reads it back: the language-model configs failed there (the defaults of
    noise_rate and noise_type, written out, were refused on a text dataset)."""
    config = load_config(_ROOT / "configs" / name)
    assert parse_config(tomllib.loads(config.to_toml())) == config
    assert parse_config(config.to_dict()) == config


def test_keys_of_the_text_datasets_are_refused_elsewhere() -> None:
    """They were silently unused on another dataset, where corpus and contamination were
    refused; their defaults pass (a saved config.toml writes every key)."""
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"name": "digits", "seq_len": 64, "tokens": "char"}})
    assert str(info.value).splitlines()[1:] == [
        "data.seq_len: only the text datasets ['shakespeare', 'text'] use it (data.name is "
        "'digits'), got 64; leave it out"
    ]
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"factory": "m:f", "train_sequences": 5}})
    assert "(data.name is 'mnist5k' with a data.factory), got 5; leave it out" in str(info.value)


def test_a_cache_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    taken = tmp_path / "afile"
    taken.write_text("mine")
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"name": "mnist1d", "cache_dir": str(taken)}})
    assert str(info.value).splitlines()[1:] == [
        f"data.cache_dir: {taken} exists and is not a directory; name a directory (it is "
        "created if missing)"
    ]
    assert taken.read_text() == "mine"
    fresh = parse_config({"data": {"name": "mnist1d", "cache_dir": str(tmp_path / "new")}})
    assert fresh.data.cache_dir == str(tmp_path / "new")


def test_a_key_above_every_section_is_named_with_its_section() -> None:
    """TOML puts ``trials = 5`` written above [search] at the top level; it was reported as
    an unknown section 'trials'."""
    with pytest.raises(ConfigError) as info:
        parse_config({"trials": 5, "seed": 1, "bogus": True, "search": {}})
    lines = str(info.value).splitlines()[1:]
    known = "(known sections: data, model, train, sampler, search, final)"
    assert lines == [
        f"trials: a key outside any section {known}; put it under [search]",
        f"seed: a key outside any section {known}; put it under [data] or [train] or [search]",
        f"bogus: a key outside any section {known}",
    ]


def test_invalid_toml_names_the_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[search]\ntrials = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"invalid TOML in config file {path}: ")
    assert "line 2" in message


def test_num_params() -> None:
    assert SamplerConfig().num_params == 10
    assert SamplerConfig(features=("loss",), segments=7).num_params == 8


def test_every_field_has_a_rule() -> None:
    for name, cls in config_module._SECTIONS.items():
        assert [f.name for f in dataclasses.fields(cls)] == list(config_module._RULES[name])
    assert [f.name for f in dataclasses.fields(Config)] == list(config_module._SECTIONS)


def test_known_names_match_the_modules_that_implement_them() -> None:
    # config.py writes these out to stay torch-free; this catches the two drifting apart.
    from swift_sampler import data, features, models, transforms
    from swift_sampler.data import dataset

    assert set(config_module.FEATURE_NAMES) == set(features.FEATURES)
    assert set(config_module.TRANSFORM_NAMES) == set(transforms.TRANSFORMS)
    assert set(config_module.MODEL_NAMES) == set(models.MODELS)
    assert config_module.DATASET_NAMES == data.DATASET_NAMES + data.TEXT_DATASETS
    assert config_module.TEXT_DATASET_NAMES == data.TEXT_DATASETS
    assert config_module.CONTAMINATION_KINDS == data.CONTAMINATION_KINDS
    assert config_module.TOKENIZERS == data.TOKENIZERS
    assert config_module.NOISE_TYPES == data.NOISE_TYPES
    assert config_module.DEFAULT_TEST_FRACTION == dataset.DEFAULT_TEST_FRACTION


def test_import_does_not_import_torch() -> None:
    code = "import sys, swift_sampler.config; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_non_utf8_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[data]\ncache_dir = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_final_seeds_must_not_replay_the_selection_seed() -> None:
    # The search selects its sampler on search.seed (shared start and draws); a final run with
    # that seed replays the selected trial, so it is refused with the seeds to use instead.
    with pytest.raises(ConfigError, match=r"final.seeds: must not include search.seed \(5\)"):
        parse_config({"search": {"seed": 5}, "final": {"seeds": [1, 5]}})
    with pytest.raises(ConfigError, match=r"e.g. \[6, 7, 8\], got \[1, 5\]"):
        parse_config({"search": {"seed": 5}, "final": {"seeds": [1, 5]}})
    assert parse_config({"search": {"seed": 5}, "final": {"seeds": [0, 6]}}).final.seeds == (0, 6)


def test_numbers_too_large_for_a_float_and_numpy_integers() -> None:
    # An int too large for a float is a bad value (it was an OverflowError, exit 1).
    assert _problems({"train": {"lr": 10**400}})[0].startswith(
        "train.lr: must be a finite number > 0, got 1000"
    )
    config = parse_config({"train": {"epochs": np.int64(30)}, "search": {"trials": np.int32(9)}})
    assert config.train.epochs == 30 and type(config.train.epochs) is int
    assert config.search.trials == 9


def test_the_demo_config_is_the_repository_file_and_valid() -> None:
    # `swift-sampler demo` runs the packaged text; configs/demo.toml documents it. A stale copy
    # once carried final seeds that the config now refuses (the search's own seed).
    from swift_sampler.demo import DEMO_TOML, demo_config

    path = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
    assert path.read_text() == DEMO_TOML
    config = demo_config()
    assert config.search.seed not in config.final.seeds
    assert config.epochs_split == (8, 12) and config.search.trials == 20


def test_the_benchmark_mlp_config_is_the_outside_run_with_the_automatic_preset() -> None:
    # docs/benchmarks.md quotes `bench_epoch_cost.py --search` on this file as outside.py's
    # MNIST-1D MLP run (selection seed 0): the same data, network, schedule and preset search.
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mnist1d-mlp.toml"
    config = load_config(path)
    s = config.search
    assert s.preset == "swift" and s.trials == 5 and s.portfolio == 4 and s.seed == 0
    assert (s.shared_epochs, s.finetune_epochs, s.min_resource) == (24, 36, 12)
    assert (config.data.name, config.data.seed, config.model.name) == ("mnist1d", 1, "mlp")
    assert (config.data.noise_type, config.data.noise_rate) == ("symmetric", 0.2)


def test_fingerprints_of_existing_configs_never_change() -> None:
    """Literal digests, computed by the config module of 2026-11-30 (before the own-data and
    text keys): a run directory made then must still resume. A new key left out of
    ``_ADDED_KEYS`` at its default changes these and fails here. An empty config was then the
    full search; its run directory's config.toml holds every key, so it reads back as
    ``Config()`` (an empty config is now the swift preset, another search and digest)."""
    root = Path(__file__).resolve().parents[1] / "configs"
    for full in (Config(), parse_config({"search": {"preset": "none"}})):
        assert full.fingerprint() == (
            "df35e7ebb03a6f87e58cf556f2768c285544791e4da3c47a4f15e7814f815326"
        )
    assert parse_config(tomllib.loads(Config().to_toml())).fingerprint() == (
        "df35e7ebb03a6f87e58cf556f2768c285544791e4da3c47a4f15e7814f815326"
    )
    assert parse_config({}).fingerprint() != Config().fingerprint()
    assert load_config(root / "demo.toml").fingerprint() == (
        "55115f869ed8e02adecc9d1fac838bd528c5917cc9e7b9fea19eb386c167f90f"
    )
    assert load_config(root / "digits-tiny.toml").fingerprint() == (
        "abab4d67b818b35789617215f287874cee37f3197a23218c178d0bee0296ce8b"
    )


def test_combine_is_a_sampler_key_the_spec_result_and_portfolio_see() -> None:
    from swift_sampler.search.setup import template_spec

    config = parse_config({"sampler": {"combine": "noisy_or"}})
    assert config.sampler.combine == "noisy_or"
    assert template_spec(config).combine == "noisy_or"
    assert config.fingerprint() != parse_config({}).fingerprint()
    default = parse_config({"sampler": {"combine": "product"}})
    # the default leaves the fingerprint as it was (stored studies resume; the literal digests
    # of test_fingerprints_of_existing_configs_never_change hold it)
    assert default.fingerprint() == parse_config({}).fingerprint()
    assert parse_config(config.to_dict()) == config
    # The portfolio's thetas were found with the product: with noisy-or they are other samplers.
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"combine": "noisy_or"}, "search": {"preset": "swift"}})
    assert 'sampler.combine = "noisy_or" (the portfolio\'s: "product")' in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"combine": "and", "segments": 0}})
    assert "2 problems" in str(err.value)
    assert "sampler.combine: must be one of ['product', 'noisy_or'], got 'and'" in str(err.value)


def test_refresh_is_a_sampler_key_the_spec_result_and_portfolio_see() -> None:
    from swift_sampler.search.setup import template_spec

    config = parse_config({"sampler": {"refresh": "once"}})
    assert config.sampler.refresh == "once"
    assert template_spec(config).refresh == "once"
    assert template_spec(config).to_dict()["refresh"] == "once"
    assert "refresh" not in template_spec(parse_config({})).to_dict()  # old files unchanged
    assert config.fingerprint() != parse_config({}).fingerprint()
    default = parse_config({"sampler": {"refresh": "every_epoch"}})
    assert default.fingerprint() == parse_config({}).fingerprint()
    assert parse_config(config.to_dict()) == config
    # The portfolio's thetas were found refreshing every epoch: refreshed once they are others.
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"refresh": "once"}, "search": {"preset": "swift"}})
    assert 'sampler.refresh = "once" (the portfolio\'s: "every_epoch")' in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"sampler": {"refresh": "never", "segments": 0}})
    assert "2 problems" in str(err.value)
    assert "sampler.refresh: must be one of ['every_epoch', 'once'], got 'never'" in str(err.value)


def test_refresh_once_refuses_the_keys_that_act_on_refreshes() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"sampler": {"refresh": "once", "history": 0.5}, "search": {"refresh_every": 3}}
        )
    message = str(err.value)
    assert "2 problems" in message
    assert "sampler.history: a moving average over refreshes, read only with" in message
    assert "search.refresh_every: thins the refreshes, read only with" in message
    # their defaults pass (config.toml writes every key), and every_epoch takes both
    parse_config({"sampler": {"refresh": "once", "history": 0.0}, "search": {"refresh_every": 1}})
    parse_config({"sampler": {"history": 0.5}, "search": {"refresh_every": 3}})


def test_start_problems_sees_what_parse_config_refuses_on_a_replaced_config() -> None:
    """A config changed with dataclasses.replace is re-checked by run_search with
    start_problems: a start theta the portfolio already tries is refused as parse_config
    refuses it (to_dict's thetas are lists, the portfolio's tuples)."""
    config = default_config()
    again = dataclasses.replace(
        config,
        search=dataclasses.replace(config.search, start_thetas=(portfolio.THETAS[0],), trials=6),
    )
    assert config_module.start_problems(config) == []
    assert config_module.start_problems(again) == [
        "search.start_thetas: entry 0 is the portfolio's theta 0, which search.portfolio = 4 "
        "already tries; leave it out"
    ]
    with pytest.raises(ConfigError, match="entry 0 is the portfolio's theta 0"):
        parse_config(again.to_dict())
