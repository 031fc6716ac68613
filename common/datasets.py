"""Each domain's datasets, listed once in ``<domain>/datasets.yaml``: what the report, the workflow and the tests read.

An entry names a dataset by the key its experiments carry as one part of their id (``gcn_citeseer``,
``transformer_wikitext2_adam``), how the report titles it, and the ``data:`` settings that select it,
which every experiment file on it must resolve to (a test checks them)::

    citeseer: {title: CiteSeer, data: {name: CiteSeer}}

Nothing here imports a domain: the list is a file, read without loading torch or PyG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from common.config import ConfigError
from common.paths import ROOT

FILE = "datasets.yaml"


@dataclass(frozen=True)
class Dataset:
    """One entry of a domain's list."""

    key: str
    """How experiment ids name it (one ``_``-separated part of the id)."""
    title: str
    """How the report names it."""
    data: dict[str, Any] = field(default_factory=dict)
    """The ``data:`` settings an experiment on it resolves to."""


def datasets(domain: str) -> dict[str, Dataset]:
    """The datasets of a domain, in the order of its file (the report's order)."""
    path = ROOT / domain / FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing: {domain} lists its datasets there")
    raw = yaml.safe_load(path.read_text()) or {}
    listed = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) - {"title", "data"} or "title" not in entry:
            raise ConfigError(f"{path}: '{key}' must be a mapping with a title and optionally data, got {entry!r}")
        listed[str(key)] = Dataset(str(key), str(entry["title"]), dict(entry.get("data") or {}))
    return listed


def dataset_of(domain: str, experiment: str) -> Dataset | None:
    """The listed dataset an experiment id names (None when it names none, e.g. a user's own data)."""
    parts = experiment.split("_")
    named = [d for key, d in datasets(domain).items() if key in parts]
    if len(named) > 1:
        raise ConfigError(f"experiment '{experiment}' names several {domain} datasets: {[d.key for d in named]}")
    return named[0] if named else None
