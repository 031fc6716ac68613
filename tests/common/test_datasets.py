"""Each domain's list of datasets: every experiment file names one listed dataset and resolves to its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, load_config
from common.datasets import dataset_of, datasets
from common.paths import ROOT
from graphs.config import GraphsConfig
from nlp.config import NLPConfig

CLASSES = {"graphs": GraphsConfig, "nlp": NLPConfig}
EXPERIMENTS = sorted(p for domain in CLASSES for p in (ROOT / domain / "configs").glob("*.yaml"))


def test_the_lists_in_the_reports_order() -> None:
    assert list(datasets("graphs")) == ["cora", "citeseer", "pubmed"]
    assert [d.title for d in datasets("nlp").values()] == ["WikiText-103", "WikiText-2"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_each_experiment_resolves_to_its_listed_dataset(path: Path) -> None:
    domain = path.parent.parent.name
    listed = dataset_of(domain, path.stem)
    assert listed is not None, f"{path.stem} names none of {list(datasets(domain))}"
    data = load_config(CLASSES[domain], path).data
    assert {key: getattr(data, key) for key in listed.data} == listed.data


def test_an_id_naming_no_or_two_datasets() -> None:
    assert dataset_of("graphs", "gcn_mygraph") is None
    with pytest.raises(ConfigError, match="several graphs datasets"):
        dataset_of("graphs", "gcn_cora_citeseer")
    with pytest.raises(ConfigError, match=r"nodomain.datasets\.yaml is missing"):
        datasets("nodomain")
