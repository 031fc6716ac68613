"""Every experiment resolves, for every feedback kind, to the config recorded in ``experiment_configs.json``.

The record was written from the flat experiment files, before they inherited (``base:``) and before
``methods:`` fell back from a kind to its family; it holds what each experiment × kind sets beyond the
config's defaults. After an intended change to an experiment, rewrite it and review the diff::

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

from common.config import from_dict, load_config, to_dict  # noqa: E402

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


def _beyond(default: Any, value: Any) -> Any:
    """What ``value`` sets beyond ``default`` (nested mappings key by key; _SAME when nothing)."""
    if isinstance(default, dict) and isinstance(value, dict) and default.keys() == value.keys():
        nested = {key: _beyond(default[key], value[key]) for key in value}
        return {key: v for key, v in nested.items() if v is not _SAME} or _SAME
    return _SAME if default == value else value


def settings(path: Path, kind: str) -> dict[str, Any]:
    """What the experiment file sets beyond the defaults when run with ``kind`` (the kind itself left out)."""
    cls = _config_class(path.parent.parent.name)
    resolved = to_dict(load_config(cls, path, [f"feedback.kind={kind}"]))
    default = to_dict(load_config(cls, None, [f"feedback.kind={kind}"]))
    own = _beyond(default, resolved)
    return {} if own is _SAME else own


def record() -> dict[str, dict[str, Any]]:
    """``{domain/experiment: {"kind kind ...": settings}}``, kinds with the same settings grouped."""
    out: dict[str, dict[str, Any]] = {}
    for path in _experiment_files():
        domain = path.parent.parent.name
        groups: dict[str, Any] = {}
        for kind in RECORDED_KINDS.get(domain, ("bp", "dfa", "shallow", "optical")):
            own = settings(path, kind)
            same = next((key for key, value in groups.items() if value == own), None)
            if same is None:
                groups[kind] = own
            else:
                groups[f"{same} {kind}"] = groups.pop(same)
        out[f"{domain}/{path.stem}"] = groups
    return out


def _write(data: dict[str, dict[str, Any]]) -> None:
    """One line per group of kinds: a change shows as a one-line diff."""
    lines = []
    for experiment, groups in data.items():
        inner = ",\n".join(
            f"    {json.dumps(names)}: {json.dumps(own, sort_keys=True)}" for names, own in groups.items()
        )
        lines.append(f"  {json.dumps(experiment)}: {{\n{inner}\n  }}")
    RECORD.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def _recorded() -> list[tuple[str, str, dict[str, Any]]]:
    if not RECORD.exists():  # being written (--write); test_every_experiment_file_is_recorded fails without it
        return []
    data = json.loads(RECORD.read_text())
    return [(exp, kind, own) for exp, groups in data.items() for kinds, own in groups.items() for kind in kinds.split()]


def test_every_experiment_file_is_recorded() -> None:
    recorded = set(json.loads(RECORD.read_text()))
    present = {f"{p.parent.parent.name}/{p.stem}" for p in _experiment_files()}
    assert present == recorded, "experiments added or removed: rewrite the record (see the module docstring)"


@pytest.mark.parametrize(("experiment", "kind", "own"), _recorded(), ids=lambda v: v if isinstance(v, str) else "")
def test_experiment_resolves_as_recorded(experiment: str, kind: str, own: dict[str, Any]) -> None:
    domain, name = experiment.split("/")
    path = ROOT / domain / "configs" / f"{name}.yaml"
    cls = _config_class(domain)
    expected = from_dict(cls, {**own, "feedback": {**own.get("feedback", {}), "kind": kind}})
    resolved = load_config(cls, path, [f"feedback.kind={kind}"])
    assert resolved == expected, f"{experiment} ({kind}) resolves otherwise; if intended, rewrite the record"


@pytest.mark.parametrize("path", _experiment_files(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_a_new_direct_kind_takes_the_settings_of_dfa(path: Path) -> None:
    """``methods:`` name families where DFA's settings are meant for every direct kind, so dfa_ternary (added
    after the record) runs each experiment with DFA's hyper-parameters."""
    assert settings(path, "dfa_ternary") == settings(path, "dfa")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write(record())
    print(f"wrote {RECORD}")
