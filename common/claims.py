"""The paper's claims, as data, and the verdicts our runs give them.

Each domain's ``claims.yaml`` holds (1) the paper's tables, cell by cell, each cell naming the run that
reproduces it (experiment × method) and the metric, and (2) the paper's qualitative claims as checks
on our own numbers. The format::

    source: "Launay et al., NeurIPS 2020, arXiv:2006.12878"
    tables:
      - id: table3
        title: "Node classification accuracy (%)"
        cite: "Table 3"
        metric: test/acc          # key of final.json "metrics"
        display_scale: 100        # ours × 100 to compare with the paper's percentages
        digits: 1
        tolerance: 1.5            # |ours − paper| allowed for "reproduced" (display units)
        cells:
          - {row: Cora, column: GCN BP, experiment: gcn_cora, method: bp, paper: 80.1}
    claims:
      - id: gcn_dfa_close_to_bp
        text: "GCN: DFA within 2.5 points of BP"
        cite: "Section 4.3"
        metric: test/acc
        display_scale: 100
        checks:
          - {kind: within, a: [gcn_cora, dfa], b: [gcn_cora, bp], tol: 2.5}
          - {kind: above, a: [gcn_cora, dfa], b: [gcn_cora, shallow], margin: 5}
          - {kind: order, items: [[lm, bp], [lm, dfa], [lm, shallow]]}   # ascending means
    figures:
      - {kind: curves, experiment: mlp_mnist, metric: test/err}
      - {kind: alignment, experiment: mlp_mnist, method: dfa}
      - {kind: image, experiment: gcn_cora, method: dfa, file: tsne.png, caption: "..."}

A reference ``[experiment, method]`` may carry a third item, a metric that replaces the claim's.
Verdicts: ``reproduced`` (paper scale, within tolerance / check holds), ``consistent at reduced scale``
(the same, at a reduced budget or on substitute data), ``not reproduced``, ``not run: <why>``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPRODUCED = "reproduced"
CONSISTENT = "consistent at reduced scale"
NOT_REPRODUCED = "not reproduced"
DIVERGED = "diverged"
CHECK_KINDS = ("within", "above", "below", "order")


class ClaimsError(ValueError):
    """A claims.yaml entry is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Stat:
    """Mean, standard deviation (n−1) and number of seeds of one metric over runs. When any seed diverged,
    the cell is *diverged* and shows no number: a mean over the seeds that survived would flatter it."""

    mean: float
    std: float
    n: int
    diverged: int = 0
    """Seeds whose run diverged (``final.json`` has ``diverged`` and no metrics)."""

    def fmt(self, digits: int) -> str:
        if self.diverged:
            return f"diverged ({self.diverged} of {self.n + self.diverged} seeds)"
        if self.n == 1:
            return f"{self.mean:.{digits}f} (n=1)"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"


class Results:
    """Final metrics of runs, indexed by (domain, experiment, method).

    References name an experiment of the claims file's own domain (``gcn_cora``) or of another one
    (``graphs/gcn_cora``), so that a cross-cutting section (hardware) can cite every domain's runs.
    """

    def __init__(self, finals: list[dict[str, Any]], domain: str) -> None:
        self.domain = domain
        self._by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for final in finals:
            key = (final["domain"], final["experiment"], final["method"])
            self._by_key.setdefault(key, []).append(final)

    def key(self, experiment: str, method: str) -> tuple[str, str, str]:
        domain, _, exp = experiment.rpartition("/")
        return (domain or self.domain, exp, method)

    def stat(self, experiment: str, method: str, metric: str, scale: float = 1.0) -> Stat | None:
        """Statistics of ``metric`` (× ``scale``) over the seeds of one experiment × method, or None."""
        finals = self._by_key.get(self.key(experiment, method), [])
        values = [f["metrics"][metric] * scale for f in finals if f["metrics"].get(metric) is not None]
        diverged = sum(1 for f in finals if f.get("diverged"))
        if diverged:
            return Stat(math.nan, math.nan, len(values), diverged)
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return Stat(statistics.fmean(values), std, len(values))


@dataclass(frozen=True)
class CellVerdict:
    table: str
    row: str
    column: str
    paper: float | None
    ours: Stat | None
    verdict: str
    digits: int

    @property
    def delta(self) -> float | None:
        if self.paper is None or self.ours is None or self.ours.diverged:
            return None
        return self.ours.mean - self.paper


@dataclass(frozen=True)
class ClaimVerdict:
    id: str
    text: str
    cite: str
    verdict: str
    evidence: str
    note: str = ""
    """The claims file's own remark on the claim (e.g. what the paper's table itself shows), not a result."""


def load_claims(path: Path) -> dict[str, Any]:
    """Read and validate one ``claims.yaml``."""
    claims = yaml.safe_load(path.read_text()) or {}
    for table in claims.get("tables", []):
        for key in ("id", "title", "metric", "cells"):
            if key not in table:
                raise ClaimsError(f"{path}: table {table.get('id', '?')} lacks '{key}'")
        for cell in table["cells"]:
            for key in ("row", "column", "experiment", "method"):
                if key not in cell:
                    raise ClaimsError(f"{path}: a cell of table {table['id']} lacks '{key}': {cell}")
    for claim in claims.get("claims", []):
        for key in ("id", "text", "checks"):
            if key not in claim:
                raise ClaimsError(f"{path}: claim {claim.get('id', '?')} lacks '{key}'")
        for check in claim["checks"]:
            if check.get("kind") not in CHECK_KINDS:
                raise ClaimsError(f"{path}: claim {claim['id']}: check kind must be one of {CHECK_KINDS}: {check}")
    return claims


def judge_table(
    table: dict[str, Any], results: Results, reduced: bool, missing_why: Callable[[str, str], str]
) -> list[CellVerdict]:
    """One verdict per cell of a paper table."""
    scale = float(table.get("display_scale", 1.0))
    digits = int(table.get("digits", 3))
    verdicts = []
    for cell in table["cells"]:
        ours = results.stat(cell["experiment"], cell["method"], cell.get("metric", table["metric"]), scale)
        paper = cell.get("paper")
        tol = float(cell.get("tolerance", table.get("tolerance", 0.0)))
        if ours is None:
            verdict = f"not run: {cell.get('requires') or missing_why(cell['experiment'], cell['method'])}"
        elif ours.diverged:
            verdict = DIVERGED
        elif paper is None:
            verdict = "— (no paper figure)"
        elif abs(ours.mean - paper) <= tol:
            verdict = CONSISTENT if reduced else REPRODUCED
        else:
            verdict = NOT_REPRODUCED
        verdicts.append(CellVerdict(table["id"], str(cell["row"]), str(cell["column"]), paper, ours, verdict, digits))
    return verdicts


def judge_claim(
    claim: dict[str, Any], results: Results, reduced: bool, missing_why: Callable[[str, str], str]
) -> ClaimVerdict:
    """Evaluate every check of a qualitative claim on our mean values."""
    scale = float(claim.get("display_scale", 1.0))
    digits = int(claim.get("digits", 3))
    metric = claim.get("metric")

    def value(ref: list[str]) -> tuple[str, float | None]:
        experiment, method, *rest = ref
        stat = results.stat(experiment, method, rest[0] if rest else metric, scale)
        label = f"{experiment}/{method}"
        if stat is not None and stat.diverged:
            diverged.append(label)
            return label, None
        return label, None if stat is None else stat.mean

    evidence, holds, missing, diverged = [], True, [], []
    for check in claim["checks"]:
        refs = check["items"] if check["kind"] == "order" else [check["a"], check["b"]]
        pairs = [value(r) for r in refs]
        absent = [
            f"{label} ({'diverged' if label in diverged else claim.get('requires') or missing_why(*ref[:2])})"
            for (label, v), ref in zip(pairs, refs, strict=True)
            if v is None
        ]
        if absent:
            missing += absent
            continue
        vals = [v for _, v in pairs]
        shown = ", ".join(f"{label} {v:.{digits}f}" for label, v in pairs)
        ok = _check(check, vals)
        holds &= ok
        evidence.append(f"{'✓' if ok else '✗'} {_describe(check)}: {shown}")
    if not holds:  # a check that ran and failed outweighs checks that could not run
        verdict = NOT_REPRODUCED
    elif diverged:
        verdict = f"{DIVERGED}: {', '.join(sorted(set(diverged)))}"
    elif missing:
        verdict = f"not run: {'; '.join(sorted(set(missing)))}"
    else:
        verdict = CONSISTENT if reduced else REPRODUCED
    cite, note = claim.get("cite", ""), claim.get("note", "")
    return ClaimVerdict(claim["id"], claim["text"], cite, verdict, "; ".join(evidence), note)


def _check(check: dict[str, Any], vals: list[float]) -> bool:
    kind = check["kind"]
    if kind == "within":
        return abs(vals[0] - vals[1]) <= float(check["tol"])
    if kind == "above":
        return vals[0] - vals[1] >= float(check.get("margin", 0.0))
    if kind == "below":
        return vals[1] - vals[0] >= float(check.get("margin", 0.0))
    return all(a < b for a, b in itertools.pairwise(vals))  # order: strictly ascending


def _describe(check: dict[str, Any]) -> str:
    kind = check["kind"]
    if kind == "within":
        return f"|a − b| ≤ {check['tol']}"
    if kind == "above":
        return f"a ≥ b + {check.get('margin', 0)}"
    if kind == "below":
        return f"a ≤ b − {check.get('margin', 0)}"
    return "ascending"
