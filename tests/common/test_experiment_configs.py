"""Every experiment resolves, for every feedback kind, to the config recorded in ``experiment_configs.json``.

The record was written from the flat experiment files, before they inherited (``base:``) and before
``methods:`` fell back from a kind to its family. It holds each domain's defaults of the time and what each
experiment × kind set beyond them; a run's resolved config must still have every recorded value (fields
added since then are not compared, and a changed default matters only where an experiment relies on it).
After an intended change to an experiment, rewrite the record and review its diff::

    .venv/bin/python tests/common/test_experiment_configs.py --write
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script (--write)
    sys.path.insert(0, str(ROOT))

from common.config import load_config, to_dict  # noqa: E402

RECORD = Path(__file__).with_name("experiment_configs.json")
CONFIG_CLASSES = {
    "vision": "VisionConfig",
    "graphs": "GraphsConfig",
    "recsys": "RecsysConfig",
    "nerf": "NerfConfig",
    "nlp": "NLPConfig",
}
RECORDED_KINDS = {"vision": ("bp", "fa", "usf", "brsf", "frsf", "dfa", "shallow", "optical")}
"""The kinds each domain accepted when the record was written (the others: bp, dfa, shallow, optical)."""
_SAME = object()


def _config_class(domain: str) -> type:
    return getattr(importlib.import_module(f"{domain}.config"), CONFIG_CLASSES[domain])


def _experiment_files() -> list[Path]:
    return sorted(p for domain in CONFIG_CLASSES for p in (ROOT / domain / "configs").glob("*.yaml"))


def _resolved(domain: str, path: Path | None, kind: str) -> dict[str, Any]:
    """The resolved config as a plain mapping, without the kind itself."""
    config = to_dict(load_config(_config_class(domain), path, [f"feedback.kind={kind}"]))
    config["feedback"].pop("kind")
    return config


def _beyond(default: Any, value: Any) -> Any:
    """What ``value`` sets beyond ``default`` (nested mappings key by key; _SAME when nothing)."""
    if isinstance(default, dict) and isinstance(value, dict) and default.keys() == value.keys():
        nested = {key: _beyond(default[key], value[key]) for key in value}
        return {key: v for key, v in nested.items() if v is not _SAME} or _SAME
    return _SAME if default == value else value


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for every leaf of a nested mapping (an empty mapping is a leaf)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings(path: Path, kind: str) -> dict[str, Any]:
    """What an experiment file sets beyond its domain's defaults when run with ``kind``."""
    domain = path.parent.parent.name
    own = _beyond(_resolved(domain, None, kind), _resolved(domain, path, kind))
    return {} if own is _SAME else own


def record() -> dict[str, Any]:
    """``{"defaults": {domain: config}, "experiments": {domain/experiment: {"kind kind ...": settings}}}``."""
    experiments: dict[str, dict[str, Any]] = {}
    for path in _experiment_files():
        domain = path.parent.parent.name
        groups: dict[str, Any] = {}  # kinds with the same settings share one entry
        for kind in RECORDED_KINDS.get(domain, ("bp", "dfa", "shallow", "optical")):
            own = settings(path, kind)
            same = next((key for key, value in groups.items() if value == own), None)
            if same is None:
                groups[kind] = own
            else:
                groups[f"{same} {kind}"] = groups.pop(same)
        experiments[f"{domain}/{path.stem}"] = groups
    return {"defaults": {d: _resolved(d, None, "bp") for d in CONFIG_CLASSES}, "experiments": experiments}


def _write(data: dict[str, Any]) -> None:
    """One line per domain's defaults and per group of kinds: a change shows as a one-line diff."""

    def block(entries: dict[str, Any], indent: str) -> str:
        return ",\n".join(f"{indent}{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in entries.items())

    experiments = ",\n".join(
        f"    {json.dumps(exp)}: {{\n{block(groups, '      ')}\n    }}" for exp, groups in data["experiments"].items()
    )
    defaults = block(data["defaults"], "    ")
    RECORD.write_text(f'{{\n  "defaults": {{\n{defaults}\n  }},\n  "experiments": {{\n{experiments}\n  }}\n}}\n')


def _recorded() -> list[tuple[str, str, dict[str, Any]]]:
    if not RECORD.exists():  # being written (--write); test_every_recorded_experiment_still_exists fails without it
        return []
    data = json.loads(RECORD.read_text())
    return [
        (exp, kind, _leaves(data["defaults"][exp.split("/")[0]]) | _leaves(own))
        for exp, groups in data["experiments"].items()
        for kinds, own in groups.items()
        for kind in kinds.split()
    ]


def test_every_recorded_experiment_still_exists() -> None:
    """A renamed or removed experiment is a deliberate change: rewrite the record. (New ones are not compared
    until it is rewritten.)"""
    recorded = set(json.loads(RECORD.read_text())["experiments"])
    present = {f"{p.parent.parent.name}/{p.stem}" for p in _experiment_files()}
    assert recorded <= present, f"{sorted(recorded - present)} are gone: rewrite the record (module docstring)"


@pytest.mark.parametrize(("experiment", "kind", "expected"), _recorded(), ids=lambda v: v if isinstance(v, str) else "")
def test_experiment_resolves_as_recorded(experiment: str, kind: str, expected: dict[str, Any]) -> None:
    domain, name = experiment.split("/")
    resolved = _leaves(_resolved(domain, ROOT / domain / "configs" / f"{name}.yaml", kind))
    changed = {
        key: (value, resolved.get(key, _SAME)) for key, value in expected.items() if resolved.get(key, _SAME) != value
    }
    assert not changed, f"{experiment} ({kind}), recorded → now: {changed}; if intended, rewrite the record"


@pytest.mark.parametrize("path", _experiment_files(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_a_new_direct_kind_takes_the_settings_of_dfa(path: Path) -> None:
    """``methods:`` name families where DFA's settings are meant for every direct kind, so dfa_ternary (added
    after the record) runs each experiment with DFA's hyper-parameters."""
    assert settings(path, "dfa_ternary") == settings(path, "dfa")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write(record())
    print(f"wrote {RECORD}")
