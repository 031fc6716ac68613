"""Experiment files that inherit: ``base: other.yaml`` plus only what differs.

An experiment file may name one file it extends, relative to its own folder::

    # graphs/configs/gcn_citeseer.yaml: GCN with gcn_cora.yaml's settings, on CiteSeer
    base: gcn_cora.yaml
    data: {name: CiteSeer}

The base is read first (recursively: a base may have its own base) and the file's mappings are merged
into it key by key, at every depth, including ``methods:``; any other value (a number, a list) replaces
the base's: the rule of ``methods:`` and of command-line overrides too. A key cannot be removed, only
set. :func:`read` gives the merged mapping that :func:`common.config.load_config` turns into a config;
:func:`chain` gives the files it was read from (what a run depends on, for the workflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from common.config import ConfigError, merge  # one merge rule for bases, methods and overrides

BASE_KEY = "base"


def chain(path: Path | str) -> list[Path]:
    """The files an experiment file is made of: itself first, then its base, its base's base, ..."""
    return [file for file, _ in _layers(Path(path))]


def read(path: Path | str) -> dict[str, Any]:
    """The mapping of an experiment file with its bases merged in (the file's own keys win)."""
    merged: dict[str, Any] = {}
    for _, own in reversed(_layers(Path(path))):  # the furthest base first
        merged = merge(merged, {key: value for key, value in own.items() if key != BASE_KEY})
    return merged


def _layers(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each file of the chain with its own mapping, stopping with an error at a file seen before."""
    layers: list[tuple[Path, dict[str, Any]]] = []
    current: Path | None = path
    while current is not None:
        seen = [file for file, _ in layers]
        if current.resolve() in {file.resolve() for file in seen}:
            circle = " -> ".join(str(file) for file in [*seen, current])
            raise ConfigError(f"config files inherit in a circle: {circle} (remove one '{BASE_KEY}:')")
        raw = _load(current, seen[-1] if seen else None)
        layers.append((current, raw))
        current = _base_of(current, raw)
    return layers


def _load(path: Path, child: Path | None = None) -> dict[str, Any]:
    if not path.is_file():
        named = f" (the '{BASE_KEY}' of {child})" if child is not None else ""
        raise ConfigError(f"config file not found: {path}{named}")
    try:
        with path.open() as fh:  # a stream: YAML's message then names the file, not "<unicode string>"
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return raw


def _base_of(path: Path, raw: dict[str, Any]) -> Path | None:
    base = raw.get(BASE_KEY)
    if base is None:
        return None
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: '{BASE_KEY}' must name one YAML file relative to {path.parent}, got {base!r}")
    return path.parent / base
