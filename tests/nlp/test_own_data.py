"""Your own text: one file cut by shares, or a folder of three files; the cache is keyed by the content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import ConfigError
from common.paths import ROOT, DataError
from nlp.config import DataConfig
from nlp.corpus import cut
from nlp.data import cache_dir, load, prepare
from nlp.train import main


@pytest.fixture
def corpus(tiny_corpus: Path, tmp_path: Path) -> Path:
    """One plain-text file: the tiny corpus's three splits, one after the other."""
    path = tmp_path / "my corpus.txt"
    path.write_text("".join((tiny_corpus / f"wiki.{s}.tokens").read_text() for s in ("train", "valid", "test")))
    return path


def test_cut_keeps_every_character_and_ends_at_lines() -> None:
    text = "".join(f"line {i:03d}\n" for i in range(100))  # equal lines: shares of characters = of lines
    parts = cut(text, (0.8, 0.1, 0.1))
    assert "".join(parts.values()) == text
    assert all(p.endswith("\n") for p in parts.values())
    assert [p.count("\n") for p in parts.values()] == [80, 10, 10]
    assert "".join(cut("no newline at all", (1, 1, 1)).values()) == "no newline at all"
    with pytest.raises(ConfigError, match="data.split"):
        cut(text, (0.9, 0.1, 0.0))


def test_one_file_is_cut_and_cached_by_content(corpus: Path, tmp_path: Path) -> None:
    cfg = DataConfig(corpus="text", path=str(corpus), vocab_size=300, cache=str(tmp_path / "cache"))
    folder = prepare(cfg)
    assert folder == cache_dir(cfg) and folder.name.startswith("text-") and folder.name.endswith("_bpe300_lower")
    pieces = [(folder / f"{s}.txt").read_text() for s in ("train", "valid", "test")]
    assert "".join(pieces) == corpus.read_text()
    copy = tmp_path / "elsewhere.txt"
    copy.write_bytes(corpus.read_bytes())
    assert cache_dir(DataConfig(corpus="text", path=str(copy), vocab_size=300, cache=cfg.cache)) == folder
    other = DataConfig(corpus="text", path=str(corpus), vocab_size=300, cache=cfg.cache, split=(0.8, 0.1, 0.1))
    assert cache_dir(other) != folder  # other shares, other splits: never the same cache
    corpus.write_text(corpus.read_text() + "one more line\n")
    assert cache_dir(cfg) != folder  # new content, new cache
    wikitext2 = cache_dir(DataConfig(corpus="wikitext2", vocab_size=300, cache=cfg.cache))
    assert wikitext2.name == "wikitext2_bpe300_lower"  # the shipped corpus keeps its folder


def test_a_folder_of_three_files(tiny_corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    for split in ("train", "valid", "test"):
        (root / f"{split}.txt").write_bytes((tiny_corpus / f"wiki.{split}.tokens").read_bytes())
    data = load(DataConfig(corpus="text", path=str(root), vocab_size=300, cache=str(tmp_path / "cache")))
    assert data.source.name == "mine (plain text)" and data.source.path == root.resolve().as_posix()
    assert data.source.bytes == sum((root / f"{s}.txt").stat().st_size for s in ("train", "valid", "test"))
    (root / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        load(DataConfig(corpus="text", path=str(root), vocab_size=300, cache=str(tmp_path / "cache")))


def test_bad_text_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1") * 50)
    with pytest.raises(DataError, match=r"latin1\.txt is not UTF-8"):
        prepare(DataConfig(corpus="text", path=str(bad), vocab_size=300, cache=str(tmp_path)))
    with pytest.raises(ConfigError, match="'data.path' is needed"):
        prepare(DataConfig(corpus="text", cache=str(tmp_path)))


def test_readme_command_trains_on_a_text_file(corpus: Path, tiny: list[str], tmp_path: Path) -> None:
    overrides = [o for o in tiny if not o.startswith("data.root=")]
    out = tmp_path / "run"
    config = ROOT / "nlp" / "configs" / "transformer_wikitext2.yaml"
    own = ["data.corpus=text", f"data.path={corpus}"]
    main(["--config", str(config), "--out", str(out), "--threads", "1", *overrides, *own])
    final = json.loads((out / "final.json").read_text())
    assert final["data"]["name"] == "my corpus.txt (plain text, cut 0.9/0.05/0.05)"
    assert final["data"]["path"] == corpus.resolve().as_posix() and final["data"]["bytes"] == corpus.stat().st_size
    assert "WikiText" not in json.dumps(final["data"])


def test_data_command_has_help() -> None:
    done = subprocess.run([sys.executable, "-m", "nlp.data", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "data.corpus=text" in done.stdout
