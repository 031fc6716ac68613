"""WikiText data: BPE round trip, the cache (reused, rebuilt when its source changes), chunks and batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.paths import DataMissingError
from nlp.config import DataConfig
from nlp.data import Chunks, TrainBatches, cache_dir, encode_file, load, load_tokenizer, prepare, train_tokenizer


@pytest.mark.parametrize("lowercase", [False, True])
def test_bpe_round_trip(tiny_corpus: Path, lowercase: bool) -> None:
    train = tiny_corpus / "wiki.train.tokens"
    tok = train_tokenizer(train, vocab_size=400, lowercase=lowercase)
    assert tok.get_vocab_size() == 400
    text = train.read_text(encoding="utf-8") + " naïve “quotes” 東京 @-@ <unk>\n"  # bytes never seen in training too
    lines = text.splitlines(keepends=True)
    decoded = [tok.decode(e.ids) for e in tok.encode_batch(lines)]
    assert decoded == [line.lower() if lowercase else line for line in lines]
    assert len(tok.encode(lines[1]).ids) < len(lines[1].encode())  # merges were learned


def test_encode_file_is_the_concatenation_of_its_lines(tiny_corpus: Path) -> None:
    path = tiny_corpus / "wiki.valid.tokens"
    tok = train_tokenizer(tiny_corpus / "wiki.train.tokens", vocab_size=300, lowercase=True)
    ids = encode_file(tok, path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert ids.tolist() == [i for line in lines for i in tok.encode(line).ids]
    assert tok.decode(ids.tolist()) == path.read_text(encoding="utf-8").lower()


def _copy_corpus(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_cache_is_reused_then_rebuilt_when_the_source_changes(tiny_corpus: Path, tmp_path: Path) -> None:
    root = _copy_corpus(tiny_corpus, tmp_path / "corpus")
    cfg = DataConfig(corpus="wikitext2", root=str(root), vocab_size=300, cache=str(tmp_path / "cache"))
    folder = prepare(cfg)
    assert folder == cache_dir(cfg) and folder.name.startswith("wikitext2-") and folder.name.endswith("_bpe300_lower")
    stamp = (folder / "train.npy").stat().st_mtime_ns
    assert prepare(cfg) == folder and (folder / "train.npy").stat().st_mtime_ns == stamp  # reused

    with open(root / "wiki.valid.tokens", "a", encoding="utf-8") as fh:
        fh.write(" a new line of validation text \n")
    rebuilt = prepare(cfg)
    assert rebuilt != folder and (folder / "train.npy").stat().st_mtime_ns == stamp  # new content, new folder
    meta = json.loads((rebuilt / "meta.json").read_text())
    assert meta["sources"]["valid"]["bytes"] == (root / "wiki.valid.tokens").stat().st_size

    (folder / "meta.json").write_text(json.dumps(meta | {"vocab_size": 301}))  # a folder whose meta disagrees
    (root / "wiki.valid.tokens").write_bytes((tiny_corpus / "wiki.valid.tokens").read_bytes())
    assert prepare(cfg) == folder and (folder / "train.npy").stat().st_mtime_ns != stamp  # rebuilt in place


def test_load_applies_limits_and_describes_the_data(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = DataConfig(corpus="wikitext2", root=str(tiny_corpus), vocab_size=300, cache=str(tmp_path), train_tokens=500)
    data = load(cfg)
    assert len(data.splits["train"]) == 500 and data.splits["train"].dtype == torch.int64
    assert data.vocab_size == load_tokenizer(cfg).get_vocab_size() == 300
    assert int(data.splits["valid"].max()) < data.vocab_size
    assert data.source.name == "WikiText-2 (user-provided)"  # the shipped text, but not read from its place
    assert data.source.detail.startswith("byte-level BPE 300, lowercased: 500 train / ")
    assert data.source.path == tiny_corpus.resolve().as_posix() and len(data.source.sha256) == 12


@pytest.mark.parametrize("corpus, hint", [("wikitext2", "data/wikitext2"), ("wikitext103", "wikitext-103-v1.zip")])
def test_missing_corpus_names_the_file_and_how_to_get_it(tmp_path: Path, corpus: str, hint: str) -> None:
    cfg = DataConfig(corpus=corpus, root=str(tmp_path), cache=str(tmp_path / "cache"))
    with pytest.raises(DataMissingError, match=r"wiki\.train\.tokens") as error:
        prepare(cfg)
    assert hint in str(error.value)


def test_chunks_pair_each_token_with_the_next() -> None:
    tokens = torch.arange(100)
    chunks = Chunks(tokens, seq_len=8)
    assert chunks.n == 12  # 99 // 8: every target must exist
    x, y = chunks.gather(torch.tensor([0, 11]))
    assert x.tolist() == [list(range(0, 8)), list(range(88, 96))]
    assert torch.equal(y, x + 1)
    assert sum(len(bx) for bx, _ in chunks.in_order(5)) == 12


def test_training_batches_depend_on_the_step_alone_and_cover_each_epoch() -> None:
    chunks = Chunks(torch.arange(401), seq_len=4)  # 100 chunks
    batches = TrainBatches(chunks, batch_size=8, seed=3)
    assert batches.steps_per_epoch == 12
    epoch0 = torch.cat([batches(s)[0][:, 0] // 4 for s in range(12)])
    assert len(set(epoch0.tolist())) == 96  # no chunk twice within an epoch
    again = TrainBatches(chunks, batch_size=8, seed=3)
    assert torch.equal(again(13)[0], batches(13)[0])  # a resumed run sees the same batch at the same step
    assert not torch.equal(batches(12)[0], batches(0)[0])  # reshuffled each epoch
    with pytest.raises(ValueError, match="do not fill one batch"):
        TrainBatches(chunks, batch_size=101, seed=0)
