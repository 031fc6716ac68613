"""Criteo-format text → int32 id arrays and training-split vocabularies, in two streaming passes.

Pass 1 reads the text block by block (:mod:`recsys.reader`), assigns every line to train, validation or
test (80/10/10 by default; a seeded hash of the line number, so a line's split depends neither on the
block size nor on other lines), counts, per field, the keys of the **training** rows only, and keeps the
parsed rows in scratch files (about 160 bytes a row). A key seen at least ``min_count`` times in
training is kept. Pass 2 reads the scratch files (not the text) and writes::

    x_<split>.npy   (n, 39) int32   per field: 0 out of vocabulary, 1 empty, 2 + rank of the key among the kept ones
    y_<split>.npy   (n,) uint8      the labels
    vocab.npz       field_<i>: the kept keys of field i, sorted (int64)
    stats.json      rows, malformed lines (by reason, first line numbers), rows and positive rate per split,
                    distinct training values, vocabulary size and out-of-vocabulary rate per field and split
                    (written last)

Ids are ranks in sorted arrays, never the iteration order of a set or dict, so they are identical
across runs and block sizes. Memory holds one block of text (or of scratch rows) and the distinct
training keys of each field with their counts: it grows with the number of distinct values, not with
the number of rows. Disk holds the text, the scratch files and the arrays (each about 160 bytes a row).

    python -m recsys.preprocess --dataset synthetic
    python -m recsys.preprocess --input clicks.txt     # your file: what a run with data.path=clicks.txt reads
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.cache import building
from common.config import to_dict
from common.paths import DataError, require_file
from common.provenance import file_sha256
from common.run import atomic_write_text, cli, progress
from recsys.config import DatasetConfig, PreprocessConfig
from recsys.data import CRITEO_HOW_TO, SPLITS, DatasetPaths, dataset_paths, file_dataset, load_dataset_config
from recsys.reader import FIELD_NAMES, MALFORMED_REASONS, N_FIELDS, iter_blocks
from recsys.scratch import Scratch, npy_writer

OOV, EMPTY, FIRST_ID = 0, 1, 2
EXAMPLES = 5  # malformed line numbers kept per reason


class KeyCounter:
    """Occurrences of int64 keys, merged lazily into one sorted (keys, counts) pair."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.counts = np.empty(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def add(self, keys: np.ndarray) -> None:
        unique, counts = np.unique(keys, return_counts=True)
        self._pending.append((unique, counts))
        self._pending_size += len(unique)
        if self._pending_size > max(len(self.keys), 1 << 16):  # amortised: merge when pending outgrows the total
            self._merge()

    def frequent(self, min_count: int) -> np.ndarray:
        """The sorted keys seen at least ``min_count`` times."""
        self._merge()
        return self.keys[self.counts >= min_count]

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self.keys, *(k for k, _ in self._pending)])
        counts = np.concatenate([self.counts, *(c for _, c in self._pending)])
        self.keys, inverse = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(inverse, weights=counts, minlength=len(self.keys)).astype(np.int64)
        self._pending, self._pending_size = [], 0


def assign_split(line: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Split of each line number (0 train, 1 validation, 2 test): a seeded splitmix64 hash → uniform [0, 1)."""
    z = line.astype(np.uint64) + np.uint64((cfg.split_seed + 1) * 0x9E3779B97F4A7C15 % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    uniform = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    edges = np.cumsum(cfg.split)[:-1] / sum(cfg.split)
    return np.searchsorted(edges, uniform, side="right").astype(np.uint8)


def encode(keys: np.ndarray, missing: np.ndarray, vocab: np.ndarray) -> np.ndarray:
    """Ids of one field's keys: 2 + rank in ``vocab`` (sorted), 0 if absent from it, 1 if the field is empty."""
    if len(vocab) <= 64:  # a small vocabulary: binary search every key directly
        unique, inverse = keys, None
    else:  # a large one: search each distinct key once
        unique, inverse = np.unique(keys, return_inverse=True)
    rank = np.searchsorted(vocab, unique)
    found = vocab[np.minimum(rank, len(vocab) - 1)] == unique if len(vocab) else np.zeros(len(unique), dtype=bool)
    ids = np.where(found, rank + FIRST_ID, OOV).astype(np.int32)
    ids = ids if inverse is None else ids[inverse]
    ids[missing] = EMPTY
    return ids


def preprocess(src: Path, paths: DatasetPaths, cfg: PreprocessConfig, dataset: dict[str, Any] | None = None) -> dict:
    """Run both passes on ``src``; write the arrays and ``stats.json`` under ``paths.root``; return the stats."""
    if len(cfg.split) != 3 or min(cfg.split) < 0 or sum(cfg.split) <= 0:
        raise ValueError(f"preprocess.split must be three non-negative shares, got {cfg.split}")
    t0, cpu0 = time.perf_counter(), time.process_time()
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.stats.unlink(missing_ok=True)  # stale stats must never describe new arrays
    scratch = Scratch(paths.root / "pass1.tmp")
    counts = count_and_split(src, cfg, scratch)
    try:
        check_usable(src, counts)
    except DataError:
        scratch.remove()
        raise
    np.savez(paths.vocab, **{f"field_{i}": v for i, v in enumerate(counts.vocab)})
    ids = write_ids(src.name, counts, scratch, paths)
    scratch.remove()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = {
        "source": str(src),
        "source_bytes": src.stat().st_size,
        "source_sha256": file_sha256(src),
        "dataset": dataset,
        **counts.summary(),
        "fields": field_stats(counts, ids),
        "generator": _generator_info(src),
        "timing": {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "lines_per_second": round(counts.lines / seconds),
        },
    }
    atomic_write_text(paths.stats, json.dumps(stats, indent=2) + "\n")
    return stats


@dataclass
class PassOne:
    """What the first pass learns from the text: rows per split, malformed lines, training vocabularies."""

    lines: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    """Rows kept per split (train, validation, test)."""
    positives: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    bad_counts: Counter = field(default_factory=Counter)
    bad_examples: dict[str, list[int]] = field(default_factory=lambda: {reason: [] for reason in MALFORMED_REASONS})
    vocab: list[np.ndarray] = field(default_factory=list)
    """Per field, the sorted training keys seen at least ``min_count`` times."""
    distinct: list[int] = field(default_factory=list)
    """Per field, the distinct keys of the training rows."""

    def summary(self) -> dict[str, Any]:
        rows = self.rows
        return {
            "lines": self.lines,
            "rows": int(rows.sum()),
            "malformed": {reason: self.bad_counts.get(reason, 0) for reason in MALFORMED_REASONS},
            "malformed_examples": {reason: numbers for reason, numbers in self.bad_examples.items() if numbers},
            "splits": {
                name: {"rows": int(rows[s]), "positive_rate": round(float(self.positives[s] / max(rows[s], 1)), 6)}
                for s, name in enumerate(SPLITS)
            },
            "field_dims": [FIRST_ID + len(v) for v in self.vocab],
        }


def check_usable(src: Path, counts: PassOne) -> None:
    """A file that cannot give a model is an error, not an empty dataset: every split needs rows."""
    summary = counts.summary()
    problems = [f"no {name} rows" for name, split in summary["splits"].items() if split["rows"] == 0]
    if problems:
        malformed = {reason: n for reason, n in summary["malformed"].items() if n}
        raise DataError(
            f"{src}: {'; '.join(problems)} ({counts.lines:,} lines read, {summary['rows']:,} kept, malformed: "
            f"{malformed or 'none'}). A Criteo-format file has one row per line: a 0/1 label, 13 integer and 26 "
            "categorical fields, tab-separated; a few thousand rows at least."
        )


def count_and_split(src: Path, cfg: PreprocessConfig, scratch: Scratch) -> PassOne:
    """Pass 1 (text): parse, split, count the training keys; keep the parsed rows in the scratch files."""
    counters = [KeyCounter() for _ in range(N_FIELDS)]
    out = PassOne()
    bar = progress(total=src.stat().st_size, desc=f"preprocess {src.name}", unit="B", unit_scale=True)
    with scratch.writer() as write:
        for block in iter_blocks(src, cfg.block_kb << 10):
            out.lines += block.lines_read
            for reason, numbers in block.bad_lines.items():
                out.bad_counts[reason] += len(numbers)
                kept = out.bad_examples[reason]
                kept.extend(int(n) for n in numbers[: EXAMPLES - len(kept)])
            split = assign_split(block.line, cfg)
            out.rows += np.bincount(split, minlength=3)
            out.positives += np.bincount(split, weights=block.label, minlength=3).astype(np.int64)
            train = split == 0
            for f, counter in enumerate(counters):
                counter.add(block.keys[train & ~block.missing[:, f], f])
            write(block, split)
            bar.update(block.nbytes)
    bar.close()
    out.vocab = [counter.frequent(cfg.min_count) for counter in counters]
    out.distinct = [len(counter.keys) for counter in counters]
    return out


@dataclass
class IdCounts:
    """Per split and field, the rows whose id is out of the vocabulary, and those whose field is empty."""

    oov: np.ndarray  # (3, 39)
    empty: np.ndarray  # (3, 39)


def write_ids(name: str, counts: PassOne, scratch: Scratch, paths: DatasetPaths) -> IdCounts:
    """Pass 2 (scratch): ids, appended split by split in file order.

    Plain writes, not memory maps: the pages of a mapped file would count in the resident memory of the process.
    """
    ids_count = IdCounts(np.zeros((3, N_FIELDS), dtype=np.int64), np.zeros((3, N_FIELDS), dtype=np.int64))
    total = int(counts.rows.sum())
    bar = progress(total=total, desc=f"preprocess {name} (ids)", unit="row", unit_scale=True)
    with contextlib.ExitStack() as stack:
        shapes = [(paths.x(s), paths.y(s), int(n)) for s, n in zip(SPLITS, counts.rows, strict=True)]
        xs = [stack.enter_context(npy_writer(x, np.int32, (n, N_FIELDS))) for x, _, n in shapes]
        ys = [stack.enter_context(npy_writer(y, np.uint8, (n,))) for _, y, n in shapes]
        for keys, missing, label, split in scratch.read(total, chunk=1 << 18):
            ids = np.stack([encode(keys[:, f], missing[:, f], counts.vocab[f]) for f in range(N_FIELDS)], axis=1)
            for s in range(len(SPLITS)):
                mine = split == s
                xs[s].write(ids[mine].tobytes())
                ys[s].write(label[mine].tobytes())
                ids_count.oov[s] += (ids[mine] == OOV).sum(0)
                ids_count.empty[s] += (ids[mine] == EMPTY).sum(0)
            bar.update(len(label))
    bar.close()
    return ids_count


def field_stats(counts: PassOne, ids: IdCounts) -> dict[str, dict[str, Any]]:
    """Per field: distinct training values, vocabulary, out-of-vocabulary rate per split, empty rate."""
    rows = counts.rows
    return {
        FIELD_NAMES[f]: {
            "distinct": counts.distinct[f],
            "vocabulary": len(counts.vocab[f]),
            **{f"oov_{name}": round(float(ids.oov[s, f] / max(rows[s], 1)), 6) for s, name in enumerate(SPLITS)},
            "empty": round(float(ids.empty[:, f].sum() / max(rows.sum(), 1)), 6),
        }
        for f in range(N_FIELDS)
    }


def _generator_info(src: Path) -> dict | None:
    info = src.with_name(src.name + ".json")
    return json.loads(info.read_text()) if info.exists() else None


def prepare(name: str, cache: str | None = None) -> dict:
    """Preprocess dataset ``name`` (``recsys/datasets/<name>.yaml``) into its cache folder."""
    cfg: DatasetConfig = load_dataset_config(name)
    paths = dataset_paths(name, cache, cfg)
    how = CRITEO_HOW_TO if cfg.source == "file" else f"generate it: python -m recsys.generate --dataset {name}"
    return preprocess(require_file(paths.raw, how), paths, cfg.preprocess, dataset=to_dict(cfg))


def prepare_file(src: Path, cache: Path | None = None) -> tuple[dict, Path]:
    """Preprocess your Criteo-format file into the folder a run with ``data.path=src`` reads; return the stats
    and the folder."""
    cfg, paths = file_dataset(src, cache)
    with building(paths.root):
        return preprocess(paths.raw, paths, cfg.preprocess, dataset=to_dict(cfg)), paths.root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", help="name of recsys/datasets/<name>.yaml (prepared into data/cache/recsys/<name>)"
    )
    parser.add_argument("--input", type=Path, help="instead of --dataset: your Criteo-format file")
    parser.add_argument(
        "--out",
        type=Path,
        help="with --input: the folder of prepared datasets, as train's data.cache (default data/cache/recsys); "
        "the arrays go to <out>/file-<hash of the file and the settings>/",
    )
    args = parser.parse_args(argv)
    if args.dataset and not args.input:
        stats, folder = prepare(args.dataset), None
    elif args.input and not args.dataset:
        stats, folder = prepare_file(args.input, args.out)
    else:
        parser.error("give --dataset NAME, or --input FILE [--out DIR]")
    malformed = sum(stats["malformed"].values())
    print(
        f"[recsys] {stats['source']}: {stats['rows']:,} rows kept, {malformed:,} malformed lines skipped "
        f"{stats['malformed']}; {stats['timing']['lines_per_second']:,} lines/s",
        file=sys.stderr,
    )
    if folder is not None:
        cache = f" data.cache={args.out}" if args.out else ""
        print(
            f"[recsys] prepared into {folder}; train on it with\n  python -m recsys.train --config "
            f"recsys/configs/deepfm_synthetic.yaml --out results/mine data.path={args.input}{cache}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    cli(main)
