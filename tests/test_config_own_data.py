"""The config keys of your own data and model: factory, kwargs, path, labels_path, num_classes."""

from __future__ import annotations

import datetime
import tomllib

import pytest

from swift_sampler.config import Config, DataConfig, parse_config
from swift_sampler.errors import ConfigError


def _problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value).splitlines()[1:]


def test_kwargs_tables_round_trip_through_toml_and_dict() -> None:
    kwargs = {"n": 3, "rate": 0.5, "names": ["a", "b"], "nested": {"deep key": True}}
    config = parse_config(
        {
            "data": {"factory": "pkg.mod:Loader.build", "kwargs": kwargs},
            "model": {"factory": "pkg.nets:net", "kwargs": {"hidden": 8}},
        }
    )
    assert config.data.kwargs == kwargs and config.data.kwargs is not kwargs  # a copy
    text = config.to_toml()
    assert 'kwargs = {n = 3, rate = 0.5, names = ["a", "b"], nested = {"deep key" = true}}' in (
        text
    )
    assert parse_config(tomllib.loads(text)) == config
    assert parse_config(config.to_dict()) == config
    assert config.to_dict()["data"]["kwargs"] is not config.data.kwargs


def test_kwargs_tables_cannot_change_and_the_config_hashes() -> None:
    kwargs = {"names": ["a", "b"], "nested": {"deep": [1, 2]}}
    config = parse_config({"data": {"factory": "pkg.mod:build", "kwargs": kwargs}})
    before = config.fingerprint()
    with pytest.raises(TypeError):
        config.data.kwargs["names"] = ["c"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.data.kwargs["nested"]["deep"] = []
    kwargs["names"].append("z")  # the parsed table is not the caller's
    assert config.data.kwargs["names"] == ("a", "b")
    assert config.fingerprint() == before
    same = parse_config({"data": {"factory": "pkg.mod:build", "kwargs": kwargs}})
    assert hash(config) == hash(parse_config(config.to_dict())) and same != config
    assert repr(config.data.kwargs) == "{'names': ['a', 'b'], 'nested': {'deep': [1, 2]}}"
    # Built directly, a section freezes its table too.
    built = DataConfig(factory="pkg.mod:build", kwargs={"x": [1]})
    assert hash(built) == hash(DataConfig(factory="pkg.mod:build", kwargs={"x": (1,)}))
    assert built.kwargs["x"] == (1,)


def test_the_new_keys_leave_old_fingerprints_alone() -> None:
    # Studies stored before these keys existed must still resume: at their defaults the keys
    # are not in the fingerprint.
    assert Config().fingerprint() == parse_config({"search": {"preset": "none"}}).fingerprint()
    assert Config().fingerprint() == (
        "df35e7ebb03a6f87e58cf556f2768c285544791e4da3c47a4f15e7814f815326"
    )
    plain = parse_config({"data": {"name": "digits"}})
    own = parse_config({"data": {"name": "arrays", "path": "d.npz"}})
    assert plain.fingerprint() != own.fingerprint()
    with_kwargs = parse_config({"data": {"factory": "m:f", "kwargs": {"a": 1}}})
    assert with_kwargs.fingerprint() != parse_config({"data": {"factory": "m:f"}}).fingerprint()


def test_own_data_gets_no_noise_unless_asked_and_bundled_data_keeps_0_4() -> None:
    assert parse_config({}).data.noise_rate == 0.4
    assert parse_config({"data": {"name": "digits"}}).data.noise_rate == 0.4
    assert parse_config({"data": {"name": "folder", "path": "x"}}).data.noise_rate == 0.0
    assert parse_config({"data": {"factory": "m:f"}}).data.noise_rate == 0.0
    asked = parse_config({"data": {"name": "arrays", "path": "x", "noise_rate": 0.2}})
    assert asked.data.noise_rate == 0.2
    assert Config().data.own is False and asked.data.own is True


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"data": {"factory": "my data:load"}},
            "data.factory: must be 'package.module:function' (a callable to import) (or "
            "absent), got 'my data:load'",
        ),
        ({"data": {"factory": "my_data.load"}}, "data.factory: must be 'package.module:function'"),
        (
            {"data": {"name": "arrays"}},
            "data.path: name = 'arrays' needs data.path, an .npz file (x, y and optional x_val, "
            "y_val, x_test, y_test), or an inputs .npy with data.labels_path",
        ),
        (
            {"data": {"name": "folder"}},
            "data.path: name = 'folder' needs data.path, a directory with one sub-directory of "
            "images per class",
        ),
        (
            {"data": {"name": "folder", "path": "p", "labels_path": "y.npy"}},
            "data.labels_path: only used with name = 'arrays', got 'y.npy'",
        ),
        (
            {"data": {"name": "mnist5k", "path": "p.npz"}},
            "data.path: only used with name = 'arrays' or 'folder' (your own files), not with "
            "the bundled 'mnist5k'; got 'p.npz'",
        ),
        (
            {"data": {"kwargs": {"a": 1}}},
            "data.kwargs: only used with data.factory, got {'a': 1}; set data.factory = "
            "'package.module:function' or remove [data.kwargs]",
        ),
        (
            {"data": {"factory": "m:f", "noise_rate": 0.1}},
            "data.noise_rate: must be 0 with data.factory (inject the noise in the factory and "
            "return its 'noise_mask'), got 0.1",
        ),
        (
            {"data": {"factory": "m:f", "path": "d.npz"}},
            "data.path: not used with data.factory (the factory makes the splits; pass it in "
            "[data.kwargs]), got 'd.npz'",
        ),
        (
            {"data": {"factory": "m:f", "test_fraction": 0.3}},
            "data.test_fraction: not used with data.factory",
        ),
        (
            {"data": {"num_classes": 5}},
            "data.num_classes: only used with your own data (data.factory, name = 'arrays' or "
            "'folder'); 'mnist5k' has its own, got 5",
        ),
        (
            {"data": {"name": "arrays", "path": "p", "num_classes": 1}},
            "data.num_classes: must be an integer >= 2 (or absent), got 1",
        ),
        (
            {"data": {"factory": "m:f", "kwargs": {"when": datetime.date(2026, 1, 1)}}},
            "data.kwargs: must be a table of keyword arguments",
        ),
        (
            {"model": {"factory": "m:net", "name": "mlp"}},
            "model.name: leave it out with model.factory (the factory builds the model), "
            "got 'mlp'",
        ),
        (
            {"model": {"kwargs": {"hidden": 3}}},
            "model.kwargs: only used with model.factory, got {'hidden': 3}",
        ),
    ],
)
def test_each_rule_is_one_line_naming_the_key(data: dict[str, object], expected: str) -> None:
    problems = _problems(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_every_problem_at_once() -> None:
    problems = _problems(
        {
            "data": {"name": "arays", "factory": "m:f", "noise_rate": 0.3, "kwargs": 1},
            "model": {"factory": "m:net", "width": 4},
        }
    )
    assert [p.split(":")[0] for p in problems] == [
        "data.name",
        "data.kwargs",
        "data.noise_rate",
        "model.width",
    ]
    assert "did you mean 'arrays'?" in problems[0]
