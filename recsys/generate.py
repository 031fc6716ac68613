"""Criteo-format click logs from a hidden click model: the data that ships with the recsys domain.

Criteo's terms forbid redistributing its logs, so the repository generates rows in exactly the layout of
the Kaggle ``train.txt`` (label, I1..I13, C1..C26, tab-separated, empty fields allowed) and reads them
with the same reader as the real file. Shape of the rows (all from :class:`recsys.config.GeneratorConfig`):

* categorical field f: value rank r drawn from a power law (Zipf-like, exponent ``zipf_exponent``) over
  ``cardinalities[f]`` values, written as an 8-digit hexadecimal hash (a per-field bijection of r);
* integer field i: ``floor(exp(mean_i + std_i·z)) − 1 − offset_i`` with z ~ N(0, 1), heavy-tailed counts;
* any field but the label empty with its own probability; about a quarter of the labels positive.

The label is Bernoulli(sigmoid(logit)) with a hidden logit of three standardised terms::

    logit = b + first_order·z(sum_f w_f[x_f])                              first order
              + pairwise·z(sum_{f<g} <v_f[x_f], v_g[x_g]>)                  what a factorization machine fits
              + higher_order·z(sum_r a_r u_r1[x_f(r,1)] u_r2[x_f(r,2)] u_r3[x_f(r,3)])   third order

where x_f is the value of field f (integers through ``floor(3 log(v + offset + 2))``, empty fields
through their own parameters), the triples f(r, ·) are distinct fields drawn at random among those with
few values (integers, categorical fields of at most ``triple_max_values`` values), every parameter
is N(0, 1) times a per-field importance, z() scales a term to unit standard deviation on a calibration
sample, and b is solved so that the positive rate is ``positive_rate``. Each factor of the third-order
term is centred on the calibration sample; the fields being independent, the term is then (nearly)
uncorrelated with every function of one or two fields: a factorization machine cannot fit it, deep
models can. Beside the file, ``<file>.json`` records
the rows and the Bayes-optimal AUC and log loss (those of the true click probabilities): the ceiling
any model can reach on these data.

    python -m recsys.generate --dataset synthetic        # → data/cache/recsys/synthetic/train.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from sklearn.metrics import log_loss, roc_auc_score

from common.run import atomic_write_text, cli, progress
from recsys.config import GeneratorConfig
from recsys.reader import N_CAT, N_FIELDS, N_INT

CHUNK_ROWS = 100_000
CALIBRATION_ROWS = 50_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


class HiddenModel:
    """The click model behind the labels, drawn once from the generator's seed."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        _check(cfg)
        self.cfg = cfg
        rng = np.random.default_rng([cfg.seed, 1])
        size = cfg.table_size
        importance = rng.lognormal(0.0, 0.5, N_FIELDS)[:, None]  # some fields matter more than others
        self.first = rng.standard_normal((N_FIELDS, size)) * importance
        self.pair = rng.standard_normal((N_FIELDS, size, cfg.pair_rank)) * importance[..., None]
        # Third-order interactions among the fields with few values (integers, small categorical fields): like
        # a context (position × device × hour), they recur often enough to be learnt from data.
        small = np.flatnonzero(np.array([True] * N_INT + [k <= cfg.triple_max_values for k in cfg.cardinalities]))
        self.triples = np.stack([rng.choice(small, 3, replace=False) for _ in range(cfg.triples)])  # (R, 3)
        self.triple_factors = rng.standard_normal((cfg.triples, 3, size)) * importance[self.triples]
        self.triple_weights = rng.standard_normal(cfg.triples)
        # Per-field bijections rank → 32-bit token (odd multiplier), so frequent values are not small numbers.
        self.token_mul = (rng.integers(0, 2**31, N_CAT, dtype=np.uint64) * 2 + 1).astype(np.uint64)
        self.token_add = rng.integers(0, 2**32, N_CAT, dtype=np.uint64)
        self.scale = np.ones(3)
        self.bias = 0.0
        self._calibrate(draw_rows(cfg, np.random.default_rng([cfg.seed, 3]), CALIBRATION_ROWS))

    def terms(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """The three raw terms (n, 3) of the logit: first order, pairwise, third order."""
        index = hidden_index(rows, self.cfg) % self.cfg.table_size  # (n, 39)
        fields = np.arange(N_FIELDS)
        first = self.first[fields, index].sum(1)
        v = self.pair[fields, index]  # (n, 39, k)
        pair = 0.5 * ((v.sum(1) ** 2) - (v**2).sum(1)).sum(1)
        third = np.zeros(len(index))
        for r, (f1, f2, f3) in enumerate(self.triples):
            u = self.triple_factors[r]
            third += self.triple_weights[r] * u[0, index[:, f1]] * u[1, index[:, f2]] * u[2, index[:, f3]]
        return np.stack([first, pair, third], axis=1)

    def logit(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        return self.bias + self.terms(rows) @ self.scale

    def _calibrate(self, rows: dict[str, np.ndarray]) -> None:
        """Scale each term to its configured standard deviation; solve the bias for the positive rate."""
        index = hidden_index(rows, self.cfg) % self.cfg.table_size
        for r, fields in enumerate(self.triples):  # zero-mean factors: the product has no lower-order part
            for j, f in enumerate(fields):
                self.triple_factors[r, j] -= self.triple_factors[r, j, index[:, f]].mean()
        raw = self.terms(rows)
        self.scale = np.array([self.cfg.first_order, self.cfg.pairwise, self.cfg.higher_order]) / raw.std(0)
        scaled = raw @ self.scale
        self.bias = brentq(lambda b: _sigmoid(scaled + b).mean() - self.cfg.positive_rate, -100.0, 100.0)


def draw_rows(cfg: GeneratorConfig, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Field values of n rows: categorical ranks (n, 26) with −1 for empty, integers (n, 13) and their emptiness."""
    ranks = np.empty((n, N_CAT), dtype=np.int64)
    for f, (k, missing) in enumerate(zip(cfg.cardinalities, cfg.cat_missing, strict=True)):
        ranks[:, f] = _power_law(rng.random(n), k, cfg.zipf_exponent)
        ranks[rng.random(n) < missing, f] = -1
    z = rng.standard_normal((n, N_INT))
    ints = np.floor(np.exp(np.asarray(cfg.int_log_mean) + np.asarray(cfg.int_log_std) * z)).astype(np.int64)
    ints -= 1 + np.asarray(cfg.int_offset)
    int_missing = rng.random((n, N_INT)) < np.asarray(cfg.int_missing)
    return {"ranks": ranks, "ints": ints, "int_missing": int_missing}


def hidden_index(rows: dict[str, np.ndarray], cfg: GeneratorConfig) -> np.ndarray:
    """(n, 39) non-negative index of each field's value in the hidden model; 0 is the empty field."""
    shifted = rows["ints"] + np.asarray(cfg.int_offset) + 2  # ≥ 1
    int_index = np.where(rows["int_missing"], 0, np.floor(3 * np.log(shifted)).astype(np.int64) + 1)
    return np.concatenate([int_index, rows["ranks"] + 1], axis=1)


def format_rows(rows: dict[str, np.ndarray], labels: np.ndarray, model: HiddenModel) -> bytes:
    """The rows as Criteo-format text (one line each, newline-terminated)."""
    n = len(labels)
    columns = [np.where(labels, b"1", b"0")]
    for i in range(N_INT):
        text = rows["ints"][:, i].astype("S20")
        text[rows["int_missing"][:, i]] = b""
        columns.append(text)
    tokens = (rows["ranks"].astype(np.uint64) * model.token_mul + model.token_add) & np.uint64(0xFFFFFFFF)
    nibbles = (tokens[..., None] >> (np.arange(28, -1, -4, dtype=np.uint64))) & np.uint64(0xF)  # (n, 26, 8)
    hexes = _HEX[nibbles].view("S8")[..., 0]
    hexes[rows["ranks"] < 0] = b""
    columns += [hexes[:, f] for f in range(N_CAT)]
    lines = zip(*(column.tolist() for column in columns), strict=True)
    return b"\n".join(b"\t".join(line) for line in lines) + b"\n" if n else b""


def generate(cfg: GeneratorConfig, out: Path) -> dict:
    """Write ``cfg.rows`` rows to ``out`` (atomically) and ``out``.json; return the latter's content."""
    model = HiddenModel(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    probs, labels_all = [], []
    with open(tmp, "wb") as fh:
        chunks = range(math.ceil(cfg.rows / CHUNK_ROWS))
        for chunk in progress(chunks, desc=f"generate {out.name}", unit="chunk"):
            rng = np.random.default_rng([cfg.seed, 2, chunk])
            n = min(CHUNK_ROWS, cfg.rows - chunk * CHUNK_ROWS)
            rows = draw_rows(cfg, rng, n)
            p = _sigmoid(model.logit(rows))
            labels = rng.random(n) < p
            fh.write(format_rows(rows, labels, model))
            probs.append(p.astype(np.float32))
            labels_all.append(labels)
    os.replace(tmp, out)
    p, y = np.concatenate(probs), np.concatenate(labels_all)
    info = {
        "rows": cfg.rows,
        "positive_rate": round(float(y.mean()), 6),
        "bayes_auc": round(float(roc_auc_score(y, p)), 6),
        "bayes_logloss": round(float(log_loss(y, p.astype(np.float64))), 6),
    }
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(info, indent=2) + "\n")
    return info


def _power_law(u: np.ndarray, k: int, s: float) -> np.ndarray:
    """Ranks in [0, k) with P(rank ≥ r) following a continuous power law of exponent s (inverse CDF)."""
    if abs(s - 1.0) < 1e-9:
        x = np.exp(u * math.log(k + 1.0))
    else:
        top = (k + 1.0) ** (1.0 - s) - 1.0
        x = (1.0 + u * top) ** (1.0 / (1.0 - s))
    return np.minimum(np.floor(x).astype(np.int64) - 1, k - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _check(cfg: GeneratorConfig) -> None:
    lengths = {
        "cardinalities": (cfg.cardinalities, N_CAT),
        "cat_missing": (cfg.cat_missing, N_CAT),
        "int_missing": (cfg.int_missing, N_INT),
        "int_log_mean": (cfg.int_log_mean, N_INT),
        "int_log_std": (cfg.int_log_std, N_INT),
        "int_offset": (cfg.int_offset, N_INT),
    }
    for name, (values, expected) in lengths.items():
        if len(values) != expected:
            raise ValueError(f"generator.{name} needs {expected} entries, got {len(values)}")
    if not 0.0 < cfg.positive_rate < 1.0:
        raise ValueError(f"generator.positive_rate must lie in (0, 1), got {cfg.positive_rate}")
    if min(cfg.cardinalities) < 1 or max(cfg.cardinalities) > 2**32:
        raise ValueError("generator.cardinalities must lie in [1, 2^32]")


def main(argv: list[str] | None = None) -> None:
    from recsys.data import dataset_paths, load_dataset_config  # the CLI resolves names; generate() takes paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="name of recsys/datasets/<name>.yaml (source: generated)")
    parser.add_argument("--rows", type=int, help="without --dataset: rows to write (default generator otherwise)")
    parser.add_argument("--seed", type=int, default=0, help="without --dataset: generator seed")
    parser.add_argument("--out", type=Path, help="without --dataset: the file to write")
    args = parser.parse_args(argv)
    if args.dataset:
        dataset = load_dataset_config(args.dataset)
        if dataset.source != "generated":
            raise SystemExit(f"dataset '{args.dataset}' reads a file ({dataset.path}); there is nothing to generate")
        cfg, out = dataset.generator, dataset_paths(args.dataset, cfg=dataset).raw
    elif args.out and args.rows:
        cfg, out = GeneratorConfig(rows=args.rows, seed=args.seed), args.out
    else:
        parser.error("give --dataset NAME, or --rows N --out FILE")
    print(json.dumps(generate(cfg, out)))


if __name__ == "__main__":
    cli(main)
