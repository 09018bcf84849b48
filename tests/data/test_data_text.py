"""The text corpora: the shipped Shakespeare, the split by work, sequences, contamination."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swift_sampler.data.text import (
    JUNK_KINDS,
    TextData,
    Vocabulary,
    contaminate,
    load_text_dataset,
    offdomain_text,
    read_corpus,
    split_works,
)
from swift_sampler.errors import InputDataError

SMALL = {"seq_len": 48, "train_sequences": 300, "eval_sequences": 60}


@pytest.fixture(scope="module")
def works() -> dict[str, str]:
    return read_corpus("shakespeare")


@pytest.fixture(scope="module")
def clean() -> TextData:
    return load_text_dataset("shakespeare", **SMALL)


@pytest.fixture(scope="module")
def dirty() -> TextData:
    return load_text_dataset("shakespeare", contamination=0.4, **SMALL)


def _text(data: TextData, split: str, row: int) -> str:
    dataset = getattr(data, split)
    x, y = dataset[row]
    return data.vocab.decode(x.numpy()) + data.vocab.decode(y[-1:].numpy())


def test_the_shipped_corpus_is_the_42_works(works: dict[str, str]) -> None:
    assert len(works) == 42
    assert {"hamlet", "sonnets", "tempest", "phoenix_and_the_turtle"} <= set(works)
    assert sum(len(t) for t in works.values()) == 5_057_198
    assert works["hamlet"].startswith("HAMLET, PRINCE OF DENMARK")
    assert all(t.isascii() for t in works.values())


def test_split_is_by_work_and_no_eval_passage_is_in_a_training_work(
    clean: TextData, works: dict[str, str]
) -> None:
    train, val, test = (set(clean.works[p]) for p in ("train", "val", "test"))
    assert train | val | test == set(works)
    assert not (train & val or train & test or val & test)
    assert val and test and len(train) > len(val) + len(test)
    training_text = "\n".join(works[w] for w in sorted(train))
    eval_text = {p: "\n".join(works[w] for w in clean.works[p]) for p in ("val", "test")}
    for split in ("val", "test"):
        for row in range(0, len(getattr(clean, split)), 7):
            passage = _text(clean, split, row)
            assert passage in eval_text[split]
            assert passage not in training_text  # 49 characters never seen in training
    for row in range(0, len(clean.train), 23):
        assert _text(clean, "train", row) in training_text


def test_sequences_are_next_token_pairs(clean: TextData) -> None:
    x, y = clean.train.tensors
    assert x.shape == y.shape == (300, 48)
    assert (x[:, 1:] == y[:, :-1]).all()
    assert len(clean.val) == len(clean.test) == 60
    assert clean.vocab.size == len(clean.vocab.chars) + 1 == 85  # 84 characters + <unk>


def test_split_depends_on_the_seed_only(works: dict[str, str]) -> None:
    lengths = {w: len(t) for w, t in works.items()}
    a = split_works(lengths, val_fraction=0.1, test_fraction=0.1, seed=0)
    assert a == split_works(lengths, val_fraction=0.1, test_fraction=0.1, seed=0)
    assert a != split_works(lengths, val_fraction=0.1, test_fraction=0.1, seed=1)
    share = sum(lengths[w] for w in a["test"]) / sum(lengths.values())
    assert 0.1 <= share < 0.1 + max(lengths.values()) / sum(lengths.values())


def test_contamination_replaces_exactly_the_masked_training_sequences(
    clean: TextData, dirty: TextData
) -> None:
    mask = dirty.train_contamination_mask
    assert mask.sum() == round(0.4 * 300) == 120
    x_clean, x_dirty = clean.train.tensors[0].numpy(), dirty.train.tensors[0].numpy()
    np.testing.assert_array_equal(x_dirty[~mask], x_clean[~mask])
    assert (x_dirty[mask] != x_clean[mask]).any(axis=1).all()
    for split in ("val", "test"):  # validation and test stay clean
        for a, b in zip(getattr(clean, split).tensors, getattr(dirty, split).tensors, strict=True):
            assert (a == b).all()
    kinds = dirty.train_contamination_kinds
    assert set(kinds[mask]) == set(JUNK_KINDS) and set(kinds[~mask]) == {""}
    assert [int((kinds == k).sum()) for k in JUNK_KINDS] == [40, 40, 40]  # mixed: thirds
    assert dirty.train_noise_mask is mask


def test_each_junk_kind_is_what_it_says(dirty: TextData, works: dict[str, str]) -> None:
    kinds = dirty.train_contamination_kinds
    training = "\n".join(works[w] for w in dirty.works["train"])
    docs = offdomain_text()
    letters = set("abcdefghijklmnopqrstuvwxyz")
    for row in np.flatnonzero(kinds == "offdomain")[:10]:
        assert _text(dirty, "train", row) in docs  # verbatim stdlib documentation
    anagrams = {"".join(sorted(line)) for line in training.splitlines()}
    whole_lines = 0
    for row in np.flatnonzero(kinds == "shuffled"):
        text = _text(dirty, "train", row)
        assert text not in training
        # Every line the window holds whole is a real training line, its characters shuffled.
        for piece in text.split("\n")[1:-1]:
            assert "".join(sorted(piece)) in anagrams
            whole_lines += piece not in training
    assert whole_lines >= 10
    for row in np.flatnonzero(kinds == "random")[:10]:
        text = _text(dirty, "train", row)
        # Uniform over 84 characters: few of them are lowercase letters, unlike English.
        assert sum(c in letters for c in text) < 0.6 * len(text)
        assert "\ufffd" not in text  # never <unk>
    assert len(docs) > 100_000 and "Return" in docs


def test_contaminate_checks_its_arguments() -> None:
    vocab = Vocabulary.from_texts("char", ["abc def\n"])
    rows = np.ones((10, 5), dtype=np.int64)
    with pytest.raises(InputDataError, match=r"contamination must be in \[0, 1\), got 1.0"):
        contaminate(rows, fraction=1.0, kind="random", vocab=vocab, lines=["ab"], seed=0)
    with pytest.raises(InputDataError, match="kind must be one of"):
        contaminate(rows, fraction=0.5, kind="noise", vocab=vocab, lines=["ab"], seed=0)  # type: ignore[arg-type]
    out, mask, _ = contaminate(rows, fraction=0.0, kind="random", vocab=vocab, lines=[], seed=0)
    assert not mask.any() and (out == rows).all()


def test_vocabularies_round_trip() -> None:
    chars = Vocabulary.from_texts("char", ["To be, or not to be"])
    ids = chars.encode("to be é")
    assert ids[-1] == 0  # unknown: <unk>
    assert chars.decode(ids) == "to be \ufffd"
    raw = Vocabulary.from_texts("byte", [])
    assert raw.size == 256 and raw.decode(raw.encode("naïve")) == "naïve"


def test_byte_tokens_and_a_user_corpus_directory(tmp_path: Path, works: dict[str, str]) -> None:
    for name in ("sonnets", "tempest", "macbeth", "lear"):
        (tmp_path / f"{name}.txt").write_text(works[name])
    data = load_text_dataset(
        "text", corpus=tmp_path, tokens="byte", seq_len=32, train_sequences=50, eval_sequences=10
    )
    assert data.vocab.size == 256 and len(data.train) == 50
    assert set(data.works["train"]) | set(data.works["val"]) | set(data.works["test"]) == {
        "sonnets",
        "tempest",
        "macbeth",
        "lear",
    }


def test_one_user_file_is_cut_by_position_with_gaps(tmp_path: Path) -> None:
    text = "".join(f"line {i:05d} of my corpus\n" for i in range(2000))
    (tmp_path / "mine.txt").write_text(text)
    data = load_text_dataset("text", corpus=tmp_path / "mine.txt", seq_len=31, eval_sequences=999)
    n = len(text) // 32
    assert len(data.train) + len(data.val) + len(data.test) == n - 2  # one window per gap
    last_train = _text(data, "train", len(data.train) - 1)
    first_val, first_test = _text(data, "val", 0), _text(data, "test", 0)
    assert text.index(first_val) == text.index(last_train) + 2 * 32
    assert text.index(first_test) == text.index(_text(data, "val", len(data.val) - 1)) + 64


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"data.corpus: the corpus file .*nothere.txt does not exist"),
        (b"", r"data.corpus: the corpus file .* is empty"),
        (b"  \n\n", r"data.corpus: the corpus file .* is empty"),
        (b"too short", r"shorter than one sequence.*seq_len \+ 1 = 65"),
        (b"caf\xe9 au lait " * 50, r"not UTF-8 text \(byte 3 is 0xe9\)"),
    ],
)
def test_bad_corpus_files_say_what_is_wrong(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "nothere.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputDataError, match=message):
        load_text_dataset("text", corpus=path, seq_len=64)


def test_a_corpus_with_an_empty_split_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("x" * 200)  # 3 windows of 65: no room for the gaps
    with pytest.raises(InputDataError, match=r"too short: the .* split holds no complete"):
        load_text_dataset("text", corpus=tmp_path / "c.txt", seq_len=64)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match=r"holds no \*.txt file"):
        load_text_dataset("text", corpus=tmp_path / "empty")
    with pytest.raises(InputDataError, match="ships with the package"):
        load_text_dataset("shakespeare", corpus=tmp_path / "c.txt")
