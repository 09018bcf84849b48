"""Offline text corpora for language modelling: split by work, cut into sequences, contaminated.

An *instance* is one fixed-length sequence: ``seq_len + 1`` consecutive tokens of one work, the
first ``seq_len`` the input and the last ``seq_len`` the targets (``y[t] = x[t + 1]``). Windows
never cross a work boundary and never overlap.

Corpora:

* ``"shakespeare"``: the 42 modern-spelling works shipped in ``data/corpus/shakespeare.zip``
  (source and licence in ``data/corpus/README.md``). The works, not positions inside one text,
  are split into train / validation / test, so no test passage is near a training passage.
* ``"text"``: a user corpus, ``corpus = PATH``: a directory of ``*.txt`` files (one work each,
  split by work as above) or one UTF-8 file, cut by position into train | val | test with one
  unused sequence between the parts.

Tokens are characters (``"char"``: the corpus's distinct characters plus one ``<unk>`` for any
other, index 0) or UTF-8 bytes (``"byte"``: 256 tokens).

Contamination, the language-model analog of label noise: a fraction of the *training*
sequences is replaced by junk a crawler would pick up; validation and test stay clean. Kinds:
``random`` (uniform random characters of the vocabulary), ``shuffled`` (real training lines with
their characters shuffled, line breaks kept), ``offdomain`` (the documentation of Python's own
standard library: module, class and function docstrings read with ``ast`` from its source
files, so nothing is imported or downloaded), and ``mixed`` (each contaminated sequence takes one
of the three, in equal shares). The mask and each sequence's kind are kept for reporting.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import time
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import TensorDataset

from swift_sampler.data._checks import (
    CONTAMINATION_KINDS,
    TEXT_DATASETS,
    TOKENIZERS,
    ContaminationKind,
    TextDatasetName,
    TokenizerName,
)
from swift_sampler.errors import InputDataError

__all__ = [
    "CONTAMINATION_KINDS",
    "TEXT_DATASETS",
    "TOKENIZERS",
    "TextData",
    "Vocabulary",
    "contaminate",
    "load_text_dataset",
    "offdomain_text",
    "read_corpus",
    "split_works",
]

logger = logging.getLogger(__name__)

_Scalar = TypeVar("_Scalar", bound=np.generic)

JUNK_KINDS: tuple[str, ...] = ("random", "shuffled", "offdomain")
"""The kinds one contaminated sequence can have (``mixed`` draws among these)."""

_SHAKESPEARE = ("swift_sampler.data", "corpus/shakespeare.zip")
SHAKESPEARE_WORKS = 42

# Standard-library modules whose docstrings make the off-domain text: long, stable, English.
_OFFDOMAIN_MODULES = (
    "argparse",
    "inspect",
    "typing",
    "difflib",
    "textwrap",
    "collections",
    "json.decoder",
    "json.encoder",
    "subprocess",
    "logging",
    "unittest.case",
    "pathlib",
    "functools",
    "dataclasses",
    "shutil",
    "tarfile",
    "zipfile",
    "email.message",
    "http.client",
    "urllib.parse",
)


# --------------------------------------------------------------------------------------------
# Tokens.


@dataclass(frozen=True)
class Vocabulary:
    """Characters or bytes <-> token ids.

    Attributes:
        kind: ``"char"`` or ``"byte"``.
        chars: for ``"char"``, the known characters in id order from 1 (id 0 is ``<unk>``).
    """

    kind: TokenizerName
    chars: str = ""

    @classmethod
    def from_texts(cls, kind: TokenizerName, texts: list[str]) -> Vocabulary:
        """The vocabulary of ``texts``: every distinct character (``"char"``), or 256 bytes."""
        if kind == "byte":
            return cls("byte")
        return cls("char", "".join(sorted(set().union(*texts))))

    @property
    def size(self) -> int:
        """Number of token ids V (``<unk>`` included)."""
        return 256 if self.kind == "byte" else len(self.chars) + 1

    def encode(self, text: str) -> NDArray[np.int64]:
        """``(len,)`` token ids of ``text``; unknown characters become 0 (``<unk>``)."""
        if self.kind == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        # Vectorised: code points, then their rank among the known (sorted) characters.
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        known = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        rank = np.minimum(np.searchsorted(known, codes), max(len(known) - 1, 0))
        found = known[rank] == codes if len(known) else np.zeros(len(codes), dtype=bool)
        return np.where(found, rank + 1, 0).astype(np.int64)

    def decode(self, ids: NDArray[np.integer] | list[int]) -> str:
        """The text of token ids (``<unk>`` shown as U+FFFD)."""
        values = [int(i) for i in ids]
        if self.kind == "byte":
            return bytes(values).decode("utf-8", errors="replace")
        return "".join(self.chars[i - 1] if i > 0 else "\ufffd" for i in values)


# --------------------------------------------------------------------------------------------
# Corpora.


def read_corpus(name: TextDatasetName, corpus: str | Path | None = None) -> dict[str, str]:
    """The works of a corpus, ``{work name: text}``, in a fixed order.

    Args:
        name: ``"shakespeare"`` (the shipped works; ``corpus`` must be None) or ``"text"``.
        corpus: for ``"text"``: a UTF-8 text file (one work) or a directory of ``*.txt``
            files (one work each).

    Raises:
        InputDataError: a corpus that is missing, empty, not UTF-8, or a directory without
            ``*.txt`` files; the message names the file.
    """
    if name == "shakespeare":
        if corpus is not None:
            raise InputDataError(
                f"data.corpus: the shakespeare corpus ships with the package; give a corpus "
                f"only with data.name = 'text', got {str(corpus)!r}"
            )
        package, relative = _SHAKESPEARE
        resource = resources.files(package).joinpath(relative)
        with resources.as_file(resource) as path, zipfile.ZipFile(path) as archive:
            works = {
                Path(member).stem: archive.read(member).decode("utf-8")
                for member in sorted(archive.namelist())
                if member.endswith(".txt")
            }
        if len(works) != SHAKESPEARE_WORKS:
            raise InputDataError(
                f"{package}/{relative} must hold {SHAKESPEARE_WORKS} works, has {len(works)}: "
                "the installed package is damaged; reinstall it"
            )
        return works
    if name != "text":
        raise InputDataError(f"text dataset must be one of {list(TEXT_DATASETS)}, got {name!r}")
    if corpus is None:
        raise InputDataError("data.corpus: data.name = 'text' needs a corpus file or directory")
    path = Path(corpus)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise InputDataError(f"data.corpus: the directory {path} holds no *.txt file")
        return {file.stem: _read_text(file) for file in files}
    return {path.stem: _read_text(path)}


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputDataError(f"data.corpus: the corpus file {path} does not exist")
    if not path.is_file():
        raise InputDataError(f"data.corpus: {path} is not a file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputDataError(f"data.corpus: cannot read the corpus file {path}: {err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputDataError(
            f"data.corpus: the corpus file {path} is not UTF-8 text (byte {err.start} is "
            f"0x{raw[err.start]:02x}); convert it, e.g. iconv -t utf-8"
        ) from None
    if not text.strip():
        raise InputDataError(f"data.corpus: the corpus file {path} is empty")
    return text.removeprefix("\ufeff")


def split_works(
    lengths: dict[str, int], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, tuple[str, ...]]:
    """Assigns whole works to ``train`` / ``val`` / ``test``.

    The works are shuffled with ``seed``; test takes works in that order until it holds at
    least ``test_fraction`` of the characters, then validation until ``val_fraction``; the rest
    is training. Every split gets at least one work.

    Args:
        lengths: characters of each work, ``{name: length}`` (at least 3 works).

    Returns:
        ``{"train": names, "val": names, "test": names}``, each sorted.
    """
    names = sorted(lengths)
    if len(names) < 3:
        raise InputDataError(
            f"a split by work needs at least 3 works (train, val, test), got {len(names)}"
        )
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    total = sum(lengths.values())
    out: dict[str, list[str]] = {"test": [], "val": []}
    position = 0
    for part, share in (("test", test_fraction), ("val", val_fraction)):
        taken = 0
        # Leave at least one work for each split still to fill (val, then train).
        room = len(order) - position - (2 if part == "test" else 1)
        while position < len(order) and room > 0 and (not out[part] or taken < share * total):
            out[part].append(order[position])
            taken += lengths[order[position]]
            position += 1
            room -= 1
    return {
        "train": tuple(sorted(order[position:])),
        "val": tuple(sorted(out["val"])),
        "test": tuple(sorted(out["test"])),
    }


def _windows(ids: NDArray[np.int64], length: int) -> NDArray[np.int64]:
    """``(k, length)`` non-overlapping windows from the start of ``ids`` (the tail dropped)."""
    count = len(ids) // length
    return ids[: count * length].reshape(count, length)


def _sample(
    rows: NDArray[np.int64], cap: int | None, rng: np.random.Generator
) -> NDArray[np.int64]:
    if cap is None or cap >= len(rows):
        return rows
    keep = np.sort(rng.choice(len(rows), size=cap, replace=False))
    return rows[keep]


# --------------------------------------------------------------------------------------------
# Contamination.


def offdomain_text() -> str:
    """Docstrings of a fixed list of standard-library modules, read with ``ast`` (no import).

    Off-domain English as a crawler finds it: technical documentation. The same Python version
    gives the same text.
    """
    parts = []
    for module in _OFFDOMAIN_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    parts.append(doc)
    return "\n\n".join(parts)


def contaminate(
    sequences: NDArray[np.int64],
    *,
    fraction: float,
    kind: ContaminationKind,
    vocab: Vocabulary,
    lines: list[str],
    seed: int,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.str_]]:
    """Replaces ``round(fraction * n)`` sequences by junk of the same length.

    Args:
        sequences: ``(n, L)`` token ids (windows of ``L = seq_len + 1`` tokens).
        fraction: share of sequences replaced, in ``[0, 1)``.
        kind: ``random``, ``shuffled``, ``offdomain`` or ``mixed`` (see the module docstring).
        vocab: the vocabulary (random characters are drawn from its known tokens).
        lines: real lines of the training works, for ``shuffled``.
        seed: seed of which sequences, which kinds and the junk itself.

    Returns:
        ``(sequences, mask, kinds)``: a contaminated copy ``(n, L)``, the ``(n,)`` bool mask of
        replaced sequences, and ``(n,)`` each sequence's kind (``""`` when clean).
    """
    if not 0 <= fraction < 1:
        raise InputDataError(f"contamination must be in [0, 1), got {fraction!r}")
    if kind not in CONTAMINATION_KINDS:
        raise InputDataError(
            f"contamination kind must be one of {list(CONTAMINATION_KINDS)}, got {kind!r}"
        )
    n, length = sequences.shape
    out = np.array(sequences, copy=True)
    mask = np.zeros(n, dtype=bool)
    kinds = np.full(n, "", dtype="<U9")
    count = round(fraction * n)
    if count == 0:
        return out, mask, kinds
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=count, replace=False))
    if kind == "mixed":
        chosen = np.array(JUNK_KINDS)[rng.permutation(count) % len(JUNK_KINDS)]
    else:
        chosen = np.full(count, kind)
    offdomain = vocab.encode(offdomain_text()) if "offdomain" in chosen else None
    # Random characters: the known ones (never <unk>); bytes: printable ASCII and newline.
    if vocab.kind == "byte":
        alphabet = np.array([10, *range(32, 127)], dtype=np.int64)
    else:
        alphabet = np.arange(1, vocab.size, dtype=np.int64)
    for row, junk in zip(rows, chosen, strict=True):
        if junk == "random":
            out[row] = alphabet[rng.integers(0, len(alphabet), size=length)]
        elif junk == "shuffled":
            out[row] = _shuffled_lines(lines, length, vocab, rng)
        else:
            assert offdomain is not None
            start = int(rng.integers(0, len(offdomain) - length))
            out[row] = offdomain[start : start + length]
        mask[row] = True
        kinds[row] = junk
    return out, mask, kinds


def _shuffled_lines(
    lines: list[str], length: int, vocab: Vocabulary, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``length`` tokens of random real lines, each line's characters shuffled."""
    pieces: list[str] = []
    size = 0
    while size < length:
        line = lines[int(rng.integers(0, len(lines)))]
        chars = list(line)
        rng.shuffle(chars)
        pieces.append("".join(chars) + "\n")
        size += len(pieces[-1])
    ids = vocab.encode("".join(pieces))
    return ids[:length]


# --------------------------------------------------------------------------------------------
# The entry point.


@dataclass(frozen=True, eq=False)
class TextData:
    """Sequences of a corpus split by work, with contamination on the training split.

    ``train``, ``val`` and ``test`` are TensorDatasets of ``(x, y)``: ``x`` and ``y`` int64 of
    shape ``(seq_len,)``, ``y[t] = x[t + 1]`` of the window. Validation and test are clean.

    Attributes:
        name: ``"shakespeare"`` or ``"text"``.
        vocab: the tokens; ``vocab.size`` is the model's output width V.
        seq_len: tokens of one input (the model's context must hold it).
        works: which works each split holds (for ``"text"`` with one file, its name).
        contamination: share of training sequences replaced by junk.
        contamination_kind: ``mixed``, ``random``, ``shuffled`` or ``offdomain``.
        seed: the seed of the split, the sampling of sequences and the junk.
        train_contamination_mask: ``(n_train,)`` bool, True where a sequence is junk.
        train_contamination_kinds: ``(n_train,)`` each sequence's junk kind, ``""`` when clean.
    """

    name: str
    train: TensorDataset = field(repr=False)
    val: TensorDataset = field(repr=False)
    test: TensorDataset = field(repr=False)
    vocab: Vocabulary = field(repr=False)
    seq_len: int
    works: dict[str, tuple[str, ...]] = field(repr=False)
    contamination: float
    contamination_kind: ContaminationKind
    seed: int
    train_contamination_mask: NDArray[np.bool_] = field(repr=False)
    train_contamination_kinds: NDArray[np.str_] = field(repr=False)

    @property
    def train_noise_mask(self) -> NDArray[np.bool_]:
        """The contamination mask under the name the reports use for label noise."""
        return self.train_contamination_mask

    @property
    def num_classes(self) -> int:
        """The vocabulary size (each position is a V-way prediction)."""
        return self.vocab.size


def load_text_dataset(
    name: TextDatasetName,
    *,
    seq_len: int = 128,
    tokens: TokenizerName = "char",
    corpus: str | Path | None = None,
    contamination: float = 0.0,
    contamination_kind: ContaminationKind = "mixed",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    train_sequences: int | None = None,
    eval_sequences: int | None = None,
) -> TextData:
    """Loads a corpus offline, splits it by work, cuts sequences and contaminates training.

    Args:
        name: ``"shakespeare"`` (shipped) or ``"text"`` (``corpus`` required).
        seq_len: input tokens per sequence, ``>= 1`` (each instance holds ``seq_len + 1``).
        tokens: ``"char"`` or ``"byte"``.
        corpus: for ``"text"``: a UTF-8 file or a directory of ``*.txt`` works.
        contamination: share of training sequences replaced by junk, in ``[0, 1)``.
        contamination_kind: see :func:`contaminate`.
        seed: seed of the split, of the sequences kept and of the junk (independent streams).
        val_fraction: validation share of the characters (whole works), in ``(0, 1)``.
        test_fraction: test share of the characters (whole works), in ``(0, 1)``.
        train_sequences: keep this many training sequences, drawn at random from all of them
            (None: all); contamination replaces a share of these.
        eval_sequences: keep at most this many validation and test sequences each (None: all).

    Raises:
        InputDataError: a missing, empty or non-UTF-8 corpus, or one too short for one
            sequence in each split; bad arguments. Every message starts with the config key.
    """
    problems = []
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        problems.append(f"data.seq_len: must be an integer >= 1, got {seq_len!r}")
    if tokens not in TOKENIZERS:
        problems.append(f"data.tokens: must be one of {list(TOKENIZERS)}, got {tokens!r}")
    if not isinstance(contamination, int | float) or not 0 <= contamination < 1:
        problems.append(f"data.contamination: must be a number in [0, 1), got {contamination!r}")
    if contamination_kind not in CONTAMINATION_KINDS:
        problems.append(
            f"data.contamination_kind: must be one of {list(CONTAMINATION_KINDS)}, "
            f"got {contamination_kind!r}"
        )
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(value, int | float) or not 0 < value < 1:
            problems.append(f"data.{key}: must be a number in (0, 1), got {value!r}")
    for key, cap in (("train_sequences", train_sequences), ("eval_sequences", eval_sequences)):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            problems.append(f"data.{key}: must be an integer >= 1 (or absent), got {cap!r}")
    if problems:
        raise InputDataError("; ".join(problems))

    start = time.perf_counter()
    works = read_corpus(name, corpus)
    length = seq_len + 1
    short = [w for w, text in works.items() if len(text) < length]
    if len(short) == len(works):
        where = f"{corpus}" if corpus is not None else name
        raise InputDataError(
            f"data.corpus: {where} is shorter than one sequence: every work has fewer than "
            f"data.seq_len + 1 = {length} characters (longest "
            f"{max(len(t) for t in works.values())}); lower data.seq_len or give more text"
        )
    vocab = Vocabulary.from_texts(tokens, list(works.values()))
    split_seed, train_seed, eval_seed, junk_seed = (
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(4)
    )
    if len(works) >= 3:
        assignment = split_works(
            {w: len(t) for w, t in works.items()},
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=split_seed,
        )
        windows = {
            part: _stack([_windows(vocab.encode(works[w]), length) for w in names], length)
            for part, names in assignment.items()
        }
    else:  # one text (or two): contiguous parts, one unused window between them
        assignment = {part: tuple(works) for part in ("train", "val", "test")}
        all_windows = _stack([_windows(vocab.encode(t), length) for t in works.values()], length)
        windows = _by_position(all_windows, val_fraction, test_fraction)
    empty = [part for part, rows in windows.items() if len(rows) == 0]
    if empty:
        where = f"{corpus}" if corpus is not None else name
        raise InputDataError(
            f"data.corpus: {where} is too short: the {'/'.join(empty)} split holds no complete "
            f"sequence of data.seq_len + 1 = {length} tokens ({sum(map(len, works.values()))} "
            "characters in all); lower data.seq_len or give more text"
        )
    train_rows = _sample(windows["train"], train_sequences, np.random.default_rng(train_seed))
    eval_rng = np.random.default_rng(eval_seed)
    val_rows = _sample(windows["val"], eval_sequences, eval_rng)
    test_rows = _sample(windows["test"], eval_sequences, eval_rng)
    lines = [line for w in assignment["train"] for line in works[w].splitlines() if len(line) > 1]
    train_rows, mask, kinds = contaminate(
        train_rows,
        fraction=float(contamination),
        kind=contamination_kind,
        vocab=vocab,
        lines=lines,
        seed=junk_seed,
    )
    data = TextData(
        name=name,
        train=_pairs(train_rows),
        val=_pairs(val_rows),
        test=_pairs(test_rows),
        vocab=vocab,
        seq_len=seq_len,
        works=assignment,
        contamination=float(contamination),
        contamination_kind=contamination_kind,
        seed=int(seed),
        train_contamination_mask=_read_only(mask),
        train_contamination_kinds=_read_only(kinds),
    )
    logger.info(
        "loaded %s: %d / %d / %d sequences of %d tokens (%d / %d / %d works), vocabulary %d, "
        "%.0f%% %s contamination, seed %d, in %.2f s",
        name,
        len(train_rows),
        len(val_rows),
        len(test_rows),
        seq_len,
        *(len(assignment[p]) for p in ("train", "val", "test")),
        vocab.size,
        100 * contamination,
        contamination_kind,
        seed,
        time.perf_counter() - start,
    )
    return data


def _stack(parts: list[NDArray[np.int64]], length: int) -> NDArray[np.int64]:
    return np.concatenate(parts) if parts else np.empty((0, length), dtype=np.int64)


def _by_position(
    windows: NDArray[np.int64], val_fraction: float, test_fraction: float
) -> dict[str, NDArray[np.int64]]:
    """train | gap | val | gap | test by position, one unused window in each gap."""
    n = len(windows)
    test = round(test_fraction * n)
    val = round(val_fraction * n)
    train_end = max(n - test - val - 2, 0)
    val_end = min(train_end + 1 + val, n)
    return {
        "train": windows[:train_end],
        "val": windows[train_end + 1 : val_end],
        "test": windows[val_end + 1 :],
    }


def _pairs(rows: NDArray[np.int64]) -> TensorDataset:
    tensor = torch.from_numpy(np.ascontiguousarray(rows))
    return TensorDataset(tensor[:, :-1].contiguous(), tensor[:, 1:].contiguous())


def _read_only(array: NDArray[_Scalar]) -> NDArray[_Scalar]:
    copy = np.array(array)
    copy.flags.writeable = False
    return copy
