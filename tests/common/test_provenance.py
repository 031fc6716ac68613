"""common.provenance: a run's data is named by path, size and a content hash that follows the content."""

from __future__ import annotations

from pathlib import Path

from common.paths import ROOT
from common.provenance import DataSource, content_hash, data_label, describe, files_under


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.txt").write_text("beta\n")
    (root / ".hidden").write_text("not data\n")
    return root


def test_describe_folder_names_size_and_hash(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    source = describe("mine", root, detail="2 files")
    assert source.path == root.resolve().as_posix()  # outside the repository: absolute
    assert source.bytes == len("alpha\n") + len("beta\n")  # hidden files are not data
    assert len(source.sha256) == 12
    assert [f.name for f in files_under(root)] == ["a.txt", "b.txt"]
    text = str(source)
    assert "mine — 2 files" in text and "11 B" in text and source.sha256 in text


def test_hash_follows_content_and_names(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    before = describe("x", root).sha256
    (root / "a.txt").write_text("alpha!\n")
    edited = describe("x", root).sha256
    (root / "a.txt").rename(root / "c.txt")
    renamed = describe("x", root).sha256
    assert len({before, edited, renamed}) == 3
    # the same content elsewhere hashes the same: the hash is of the data, not of where it lies
    copy = _tree(tmp_path / "e")
    assert describe("x", copy).sha256 == before


def test_single_file_and_picked_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d")
    one = describe("a", root / "a.txt")
    assert one.bytes == 6 and one.path.endswith("/d/a.txt")
    picked = describe("a", root, files=[root / "a.txt"])
    assert picked.sha256 == content_hash([root / "a.txt"], root=root)[:12]


def test_paths_inside_the_repository_are_relative() -> None:
    source = describe("MNIST", ROOT / "data" / "mnist" / "raw")
    assert source.path == "data/mnist/raw"


def test_report_label_reads_dicts_and_old_strings() -> None:
    source = DataSource("Cora", "data/planetoid/Cora/raw", 2_500_000, "0123456789ab", "2,708 nodes")
    assert data_label(source.as_dict()) == str(source)
    assert "2.5 MB" in str(source)
    assert data_label("MNIST (shipped IDX files)") == "MNIST (shipped IDX files)"
    assert data_label(None) == "?"
