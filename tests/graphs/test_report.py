"""The graphs report hook: Table 3 in the paper's layout, from final.json records and claims.yaml only."""

from __future__ import annotations

from pathlib import Path

from common.report import DomainContext
from graphs.report import sections


def _final(experiment: str, method: str, acc: float) -> dict:
    return {"domain": "graphs", "experiment": experiment, "method": method, "metrics": {"test/acc": acc}}


def test_table3_layout_shows_our_mean_beside_the_paper(tmp_path: Path) -> None:
    finals = [_final("gcn_cora", "bp", 0.80), _final("gcn_cora", "bp", 0.82), _final("gcn_cora", "shallow", 0.6)]
    finals.append({"domain": "graphs", "experiment": "gae_cora", "method": "bp", "metrics": {"test/auc": 0.9}})
    ctx = DomainContext("graphs", "default", {}, finals, {}, tmp_path / "figures", tmp_path)
    (text,) = sections(ctx)
    header, cora = text.splitlines()[2], text.splitlines()[4]
    assert header == "| dataset | GraphConv bp | GraphConv shallow |"
    assert cora == "| cora | 81.0 (80.1) | 60.0 |"  # mean of the seeds (the paper's figure); no paper figure
    assert sections(DomainContext("graphs", "default", {}, [], {}, tmp_path, tmp_path)) == []
