"""Verdict logic of claims.yaml and the report built from run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from common.claims import CONSISTENT, NOT_REPRODUCED, REPRODUCED, ClaimsError, Results, judge_claim, judge_table
from common.report import build, render_claims


def _final(exp: str, method: str, seed: int, acc: float, domain: str = "graphs", profile: str = "default") -> dict:
    return {
        "domain": domain,
        "experiment": exp,
        "method": method,
        "seed": seed,
        "profile": profile,
        "metrics": {"test/acc": acc},
        "budget": {"epochs": 2},
        "data": "test data",
    }


FINALS = [_final("gcn_cora", "bp", s, a) for s, a in enumerate((0.80, 0.82))] + [
    _final("gcn_cora", "dfa", 0, 0.70),
    _final("gcn_cora", "shallow", 0, 0.50),
]
TABLE = {
    "id": "t3",
    "title": "T3",
    "metric": "test/acc",
    "display_scale": 100,
    "digits": 1,
    "tolerance": 1.5,
    "cells": [
        {"row": "Cora", "column": "GCN BP", "experiment": "gcn_cora", "method": "bp", "paper": 80.1},
        {"row": "Cora", "column": "GCN DFA", "experiment": "gcn_cora", "method": "dfa", "paper": 79.9},
        {"row": "Cora", "column": "Cheb BP", "experiment": "cheb_cora", "method": "bp", "paper": 79.2},
    ],
}


def why(exp: str, method: str) -> str:
    return "not in the 'default' profile"


def test_cell_verdicts_depend_on_tolerance_scale_and_presence() -> None:
    results = Results(FINALS, "graphs")
    bp, dfa, cheb = judge_table(TABLE, results, reduced=False, missing_why=why)
    assert (bp.ours.mean, bp.ours.n, bp.verdict) == (pytest.approx(81.0), 2, REPRODUCED)
    assert bp.ours.std == pytest.approx(1.41421, abs=1e-4) and bp.delta == pytest.approx(0.9)
    assert dfa.verdict == NOT_REPRODUCED
    assert cheb.verdict == "not run: not in the 'default' profile"
    assert judge_table(TABLE, results, reduced=True, missing_why=why)[0].verdict == CONSISTENT


def test_claim_checks() -> None:
    results = Results(FINALS, "graphs")
    claim = {
        "id": "c",
        "text": "t",
        "metric": "test/acc",
        "display_scale": 100,
        "checks": [
            {"kind": "above", "a": ["gcn_cora", "dfa"], "b": ["gcn_cora", "shallow"], "margin": 10},
            {"kind": "order", "items": [["gcn_cora", "shallow"], ["gcn_cora", "dfa"], ["gcn_cora", "bp"]]},
        ],
    }
    assert judge_claim(claim, results, False, why).verdict == REPRODUCED
    claim["checks"].append({"kind": "within", "a": ["gcn_cora", "dfa"], "b": ["gcn_cora", "bp"], "tol": 2.5})
    verdict = judge_claim(claim, results, False, why)
    assert verdict.verdict == NOT_REPRODUCED and "✗" in verdict.evidence
    assert "Note:" not in render_claims([verdict])
    claim["note"] = "the paper's own gap is 3.3"
    assert "*Note: the paper's own gap is 3.3*" in render_claims([judge_claim(claim, results, False, why)])
    claim["checks"] = [{"kind": "within", "a": ["graphs/cheb_cora", "dfa"], "b": ["graphs/gcn_cora", "bp"], "tol": 1}]
    assert judge_claim(claim, Results(FINALS, "hardware"), True, why).verdict == (
        "not run: graphs/cheb_cora/dfa (not in the 'default' profile)"
    )


def test_report_renders_tables_and_ignores_other_profiles(tmp_path: Path) -> None:
    for final in [*FINALS, _final("gcn_cora", "dfa", 1, 0.99, profile="smoke")]:
        run = tmp_path / "graphs" / final["experiment"] / final["method"] / f"seed{final['seed']}"
        run.mkdir(parents=True, exist_ok=True)
        (run / "final.json").write_text(json.dumps(final))
        (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "test/acc": 0.5, "time_s": 3.0}) + "\n")
    claims_root = tmp_path / "repo"
    (claims_root / "graphs").mkdir(parents=True)
    (claims_root / "graphs" / "claims.yaml").write_text(yaml.safe_dump({"tables": [TABLE]}))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "profiles": {
                    "default": {
                        "graphs": {"scale": "paper", "experiments": {"gcn_cora": {"methods": ["bp", "dfa", "shallow"]}}}
                    }
                }
            }
        )
    )
    text = build("default", tmp_path, config, claims_root).read_text()
    assert "| Cora | GCN DFA | 79.9 | 70.0 (n=1) | -9.9 | **not reproduced** |" in text
    assert "| Cora | GCN BP | 80.1 | 81.0 ± 1.4 (n=2) | +0.9 | **reproduced** |" in text


def test_malformed_claims_are_named(tmp_path: Path) -> None:
    from common.claims import load_claims

    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{"id": "x", "text": "t", "checks": [{"kind": "greater"}]}]}))
    with pytest.raises(ClaimsError, match="claim x"):
        load_claims(path)
