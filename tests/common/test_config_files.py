"""Experiment files that inherit (``base:``) and ``methods:`` settings that fall back from a kind to its family."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common import config_files
from common.config import ConfigError, load_config
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class Train:
    lr: float = 0.1
    epochs: int = 3
    widths: tuple[int, ...] = (4, 4)


@dataclass(frozen=True)
class Data:
    name: str = "a"
    limit: int = 0


@dataclass(frozen=True)
class Cfg:
    data: Data = field(default_factory=Data)
    train: Train = field(default_factory=Train)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)


def _files(tmp_path: Path, **texts: str) -> Path:
    """Write ``name.yaml`` files (a ``sub__name`` key writes ``sub/name.yaml``); return the folder."""
    for name, text in texts.items():
        path = tmp_path / f"{name.replace('__', '/')}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_file_extends_its_base_recursively_and_deeply(tmp_path: Path) -> None:
    folder = _files(
        tmp_path,
        root="data: {name: cora, limit: 5}\ntrain: {lr: 0.5, widths: [8, 8, 8]}\n",
        sub__middle="base: ../root.yaml\ntrain: {epochs: 9}\n",  # relative to the file that names it
        sub__leaf="base: middle.yaml\ndata: {name: citeseer}\ntrain: {widths: [2]}\n",
    )
    cfg = load_config(Cfg, folder / "sub" / "leaf.yaml")
    assert cfg.data == Data(name="citeseer", limit=5)  # mappings merge key by key
    assert cfg.train == Train(lr=0.5, epochs=9, widths=(2,))  # a list replaces the base's list
    assert config_files.chain(folder / "sub" / "leaf.yaml") == [
        folder / "sub" / "leaf.yaml",
        folder / "sub" / "middle.yaml",
        folder / "sub" / "../root.yaml",
    ]


def test_methods_merge_across_bases(tmp_path: Path) -> None:
    folder = _files(
        tmp_path,
        base="methods:\n  dfa: {train: {lr: 0.01, epochs: 7}}\n  bp: {train: {lr: 0.2}}\n",
        child="base: base.yaml\nmethods:\n  dfa: {train: {lr: 0.02}}\n",
    )
    assert load_config(Cfg, folder / "child.yaml", ["feedback.kind=dfa"]).train == Train(lr=0.02, epochs=7)
    assert load_config(Cfg, folder / "child.yaml").train.lr == 0.2


def test_a_kind_takes_its_familys_settings_then_its_own(tmp_path: Path) -> None:
    folder = _files(
        tmp_path,
        exp="train: {lr: 0.5}\nmethods:\n  direct: {train: {lr: 0.01, epochs: 7}}\n  dfa: {train: {epochs: 9}}\n"
        "  chain: {train: {lr: 0.3}}\n",
    )
    path = folder / "exp.yaml"
    assert load_config(Cfg, path, ["feedback.kind=dfa"]).train == Train(lr=0.01, epochs=9)
    assert load_config(Cfg, path, ["feedback.kind=dfa", "train.epochs=4"]).train.epochs == 4  # the CLI wins
    assert load_config(Cfg, path, ["feedback.kind=fa"]).train == Train(lr=0.3)  # chain: bp, fa, ...
    assert load_config(Cfg, path, ["feedback.kind=shallow"]).train == Train(lr=0.5)  # frozen: nothing set


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"a": "base: b.yaml\n", "b": "base: a.yaml\n"}, r"inherit in a circle: .*a.yaml -> .*b.yaml -> .*a.yaml"),
        ({"a": "base: a.yaml\n"}, "inherit in a circle"),
        ({"a": "base: nowhere.yaml\n"}, r"not found: .*nowhere.yaml \(the 'base' of .*a.yaml\)"),
        ({"a": "base: [b.yaml, c.yaml]\n"}, "'base' must name one YAML file"),
        ({"a": "base: b.yaml\n", "b": "- 1\n- 2\n"}, r"b.yaml: the top level must be a mapping"),
        ({"a": "train: {lr: [}\n"}, r"a.yaml is not valid YAML"),
        ({"a": "methods:\n  dfaa: {train: {lr: 1}}\n"}, r"a.yaml: 'methods.dfaa' names no feedback kind"),
        ({"a": "methods: [dfa]\n"}, r"'methods' must map a feedback.kind \(or a family\)"),
        ({"a": "feedback: {kind: dfaa}\n"}, r"'feedback.kind' must be one of .*got 'dfaa'"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, texts: dict[str, str], message: str) -> None:
    folder = _files(tmp_path, **texts)
    with pytest.raises(ConfigError, match=message):
        load_config(Cfg, folder / "a.yaml")
