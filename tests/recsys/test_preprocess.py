"""Preprocessing: vocabularies from the training split only, deterministic ids, malformed lines reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.config import PreprocessConfig
from recsys.data import DatasetPaths
from recsys.preprocess import EMPTY, FIRST_ID, OOV, assign_split, preprocess
from recsys.reader import N_CAT, N_INT

CFG = PreprocessConfig(min_count=3, split_seed=7)


def row(label: int, c1: str, i1: str = "1") -> str:
    """A row whose first integer field is ``i1``, first categorical field ``c1``, the rest fixed."""
    return "\t".join([str(label), i1, *["2"] * (N_INT - 1), c1, *["abc"] * (N_CAT - 1)])


def build(tmp_path, lines: list[str], cfg: PreprocessConfig = CFG, name: str = "out") -> tuple[dict, DatasetPaths]:
    src = tmp_path / f"{name}.txt"
    src.write_text("\n".join(lines) + "\n")
    paths = DatasetPaths(tmp_path / name, src)
    return preprocess(src, paths, cfg), paths


def splits_of(n: int, cfg: PreprocessConfig = CFG) -> np.ndarray:
    return assign_split(np.arange(n), cfg)


def test_vocabulary_never_sees_validation_or_test_rows(tmp_path):
    split = splits_of(400)
    # 'beef' appears only on validation and test lines (often), 'cafe' on training lines (just enough).
    lines = []
    for number, s in enumerate(split):
        if s == 0:
            lines.append(row(number % 2, "cafe" if number % 5 == 0 else "0"))
        else:
            lines.append(row(number % 2, "beef"))
    assert (split != 0).sum() >= 3 * CFG.min_count
    stats, paths = build(tmp_path, lines)
    vocab = np.load(paths.vocab)["field_13"]
    assert 0xCAFE in vocab and 0xBEEF not in vocab
    for name in ("val", "test"):
        assert (np.load(paths.x(name))[:, 13] == OOV).all()
    assert stats["fields"]["C1"]["oov_val"] == 1.0 and stats["fields"]["C1"]["oov_train"] == 0.0


def test_min_count_and_sorted_ids(tmp_path):
    train_lines = [n for n, s in enumerate(splits_of(2000)) if s == 0]
    values = {0: "f00d", 1: "a", 2: "0b", 3: "dead"}  # seen 4, 3, 2, 3 times on training lines
    counts = {0: 4, 1: 3, 2: 2, 3: 3}
    lines = [row(1, "")] * 2000
    cursor = 0
    for key, count in counts.items():
        for _ in range(count):
            lines[train_lines[cursor]] = row(1, values[key])
            cursor += 1
    stats, paths = build(tmp_path, lines)
    vocab = np.load(paths.vocab)["field_13"]
    assert vocab.tolist() == sorted([0xA, 0xDEAD, 0xF00D])  # 0x0b seen twice < min_count 3
    x = np.load(paths.x("train"))[:, 13]
    expected = {"": EMPTY, "a": FIRST_ID + 0, "dead": FIRST_ID + 1, "f00d": FIRST_ID + 2, "0b": OOV}
    kept = [lines[n].split("\t")[14] for n in train_lines]
    assert x.tolist() == [expected[v] for v in kept]
    assert stats["field_dims"][13] == FIRST_ID + 3


def test_ids_do_not_depend_on_block_size_or_run(tmp_path):
    rng = np.random.default_rng(0)
    lines = [row(int(rng.integers(2)), f"{rng.integers(40):x}", str(rng.integers(-3, 500))) for _ in range(3000)]
    runs = [build(tmp_path, lines, PreprocessConfig(min_count=3, block_kb=kb), name=f"b{kb}") for kb in (1, 7, 64, 64)]
    for _, paths in runs[1:]:
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(np.load(paths.x(split)), np.load(runs[0][1].x(split)))
            np.testing.assert_array_equal(np.load(paths.y(split)), np.load(runs[0][1].y(split)))
    stats = [{k: v for k, v in s.items() if k not in ("timing", "source")} for s, _ in runs]
    assert all(s == stats[0] for s in stats)


def test_malformed_lines_are_counted_and_skipped(tmp_path):
    good = [row(n % 2, "ab") for n in range(50)]
    lines = [*good[:10], "1\t2\t3", row(3, "ab"), row(1, "ab", i1="x"), row(1, "xyz"), *good[10:]]
    stats, paths = build(tmp_path, lines)
    assert stats["lines"] == 54 and stats["rows"] == 50
    assert stats["malformed"] == {"field_count": 1, "label": 1, "integer": 1, "categorical": 1}
    assert stats["malformed_examples"] == {"field_count": [10], "label": [11], "integer": [12], "categorical": [13]}
    assert sum(len(np.load(paths.y(s))) for s in ("train", "val", "test")) == 50
    assert json.loads(paths.stats.read_text())["rows"] == 50


def test_split_is_a_seeded_function_of_the_line_number():
    split = splits_of(200_000)
    shares = np.bincount(split, minlength=3) / len(split)
    np.testing.assert_allclose(shares, CFG.split, atol=0.005)
    np.testing.assert_array_equal(assign_split(np.arange(1000, 2000), CFG), split[1000:2000])
    assert (assign_split(np.arange(1000), PreprocessConfig(split_seed=8)) != split[:1000]).any()


def test_bad_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="split"):
        build(tmp_path, [row(1, "a")], PreprocessConfig(split=(0.8, 0.2)))
