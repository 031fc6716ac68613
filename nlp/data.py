"""Text for language modelling (WikiText, or your own corpus): a byte-level BPE learned on the training split.

    python -m nlp.data data.corpus=wikitext2 data.vocab_size=4096     # prepare once (the pipeline's rule)
    python -m nlp.data data.corpus=text data.path=my_corpus.txt       # your own text: one file or a folder

:func:`prepare` learns the tokenizer (HuggingFace ``tokenizers``: byte-level BPE, so no token is ever
unknown; optionally lowercased, as the authors' torchtext field did) on ``wiki.train.tokens``, saves it
as ``tokenizer.json``, encodes the three splits line by line into ``.npy`` arrays and writes
``meta.json`` last. Your own corpus (``data.corpus=text``) is a folder of ``train.txt``, ``valid.txt`` and
``test.txt``, or one file cut into three at line ends (``data.split``; see :mod:`nlp.corpus`). Each corpus ×
BPE setting has its own folder under ``data.cache``, with the content hash of the text in its name unless
the corpus is WikiText in its usual place; it is reused as long as ``meta.json`` matches the settings and
the source files (name, size and sha256), and rebuilt otherwise.

:class:`Chunks` cuts a split into non-overlapping ``seq_len``-token chunks, the model's unit of context.
Training batches draw chunks in a seeded order that is reshuffled every epoch, so the data position is
the step number alone (what a resumed run needs). The authors instead fed 64 contiguous streams in order
(PyTorch's ``batchify``); the chunks and their length are the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from torch import Tensor

from common.cache import building
from common.paths import require_file
from common.provenance import DataSource, file_sha256
from common.run import atomic_write_text, cli
from nlp.config import DataConfig
from nlp.corpus import CORPORA, SPLITS, WHOLE, corpus_key, corpus_source, read_text, resolve, source_files, split_files

CACHE_FORMAT = 1  # bump when the cached files change meaning
ENCODE_BATCH = 10_000  # lines per call to the (multi-threaded) encoder


def cache_dir(cfg: DataConfig) -> Path:
    """The folder of one corpus × BPE setting, e.g. ``data/cache/nlp/wikitext2_bpe4096_lower`` (the corpus
    part is :func:`nlp.corpus.corpus_key`: with a content hash unless WikiText is read from its usual place)."""
    case = "lower" if cfg.lowercase else "cased"
    return resolve(cfg.cache) / f"{corpus_key(cfg)}_bpe{cfg.vocab_size}_{case}"


# -- tokenizer --------------------------------------------------------------------------------------
def train_tokenizer(train_file: Path, vocab_size: int, lowercase: bool) -> Tokenizer:
    """Learn a byte-level BPE of ``vocab_size`` tokens (256 bytes + merges) on ``train_file``, line by line.

    Training is deterministic: the same file and settings give the same merges on any thread count.
    """
    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train([str(train_file)], trainer)
    return tok


def encode_file(tok: Tokenizer, path: Path) -> np.ndarray:
    """All token ids of a text file, encoded line by line (newlines included) and concatenated."""
    lines = read_text(path).splitlines(keepends=True)
    dtype = np.uint16 if tok.get_vocab_size() <= np.iinfo(np.uint16).max + 1 else np.int32
    parts = [
        np.asarray(encoding.ids, dtype=dtype)
        for start in range(0, len(lines), ENCODE_BATCH)
        for encoding in tok.encode_batch(lines[start : start + ENCODE_BATCH])
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


# -- the cache --------------------------------------------------------------------------------------
def _expected_meta(cfg: DataConfig, sources: dict[str, Path]) -> dict:
    files = {key: {"name": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)} for key, p in sources.items()}
    return {
        "format": CACHE_FORMAT,
        "corpus": cfg.corpus,
        "vocab_size": cfg.vocab_size,
        "lowercase": cfg.lowercase,
        "sources": files,
        **({"split": list(cfg.split)} if WHOLE in sources else {}),
    }


def prepare(cfg: DataConfig) -> Path:
    """Make sure the tokenizer and the encoded splits of ``cfg`` are cached; return their folder.

    Raises :class:`common.paths.DataMissingError` naming the file (and how to get it) if a split is absent.
    """
    corpus = CORPORA[cfg.corpus]
    sources = {key: require_file(path, corpus.how_to_get) for key, path in source_files(cfg).items()}
    folder = cache_dir(cfg)
    expected = _expected_meta(cfg, sources)
    with building(folder):  # a second run on the same new text waits, then finds the cache ready
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if {k: meta.get(k) for k in expected} == expected:
                return folder
            print(f"[nlp] {folder}: sources or settings changed, rebuilding", file=sys.stderr)
            meta_path.unlink()
        _build(folder, sources, cfg, expected)
    return folder


def _build(folder: Path, sources: dict[str, Path], cfg: DataConfig, expected: dict) -> None:
    """Learn the BPE on the training split, encode the three splits, write ``meta.json`` last."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    splits = split_files(sources, cfg, folder)
    print(f"[nlp] learning a {cfg.vocab_size}-token BPE on {splits['train']}", file=sys.stderr)
    tok = train_tokenizer(splits["train"], cfg.vocab_size, cfg.lowercase)
    atomic_write_text(folder / "tokenizer.json", tok.to_str())
    counts = {}
    for split, path in splits.items():
        ids = encode_file(tok, path)
        np.save(folder / f"{split}.tmp.npy", ids)
        (folder / f"{split}.tmp.npy").replace(folder / f"{split}.npy")
        counts[split] = len(ids)
    meta = expected | {
        "vocab_learned": tok.get_vocab_size(),
        "tokens": counts,
        "tokenizers": tokenizers.__version__,
    }
    atomic_write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"[nlp] cached {counts} tokens in {folder}", file=sys.stderr)


@dataclass(frozen=True)
class TokenData:
    """The encoded splits of one corpus, with what the report needs to describe them."""

    splits: dict[str, Tensor]
    """int64 token ids per split, limits applied."""
    vocab_size: int
    """Tokens the BPE actually learned (≤ the configured size on a small corpus)."""
    source: DataSource
    """The text the tokens come from, for final.json."""


def load_tokenizer(cfg: DataConfig) -> Tokenizer:
    """The cached tokenizer of ``cfg`` (prepared if needed)."""
    return Tokenizer.from_file(str(prepare(cfg) / "tokenizer.json"))


def load(cfg: DataConfig) -> TokenData:
    """Prepare (if needed) and load the token arrays of ``cfg``, cut to the configured limits."""
    folder = prepare(cfg)
    meta = json.loads((folder / "meta.json").read_text())
    limits = {"train": cfg.train_tokens, "valid": cfg.valid_tokens, "test": 0}
    splits = {}
    for split in SPLITS:
        ids = np.load(folder / f"{split}.npy", mmap_mode="r")
        ids = ids[: limits[split]] if limits[split] else ids
        splits[split] = torch.from_numpy(ids.astype(np.int64))
    detail = (
        f"byte-level BPE {meta['vocab_learned']}{', lowercased' if cfg.lowercase else ''}: "
        f"{len(splits['train']):,} train / {len(splits['valid']):,} valid / {len(splits['test']):,} test tokens"
    )
    return TokenData(splits, int(meta["vocab_learned"]), corpus_source(cfg, detail))


# -- batches ----------------------------------------------------------------------------------------
class Chunks:
    """Non-overlapping ``seq_len``-token chunks of one split: input ``t[c·T : c·T+T]``, target shifted by one."""

    def __init__(self, tokens: Tensor, seq_len: int) -> None:
        self.tokens, self.seq_len = tokens, seq_len
        self.n = (len(tokens) - 1) // seq_len
        if self.n == 0:
            raise ValueError(f"a split of {len(tokens)} tokens holds no chunk of {seq_len} + 1 tokens")

    def gather(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Inputs and targets (len(index), seq_len) of the chunks ``index``, on the tokens' device."""
        device = self.tokens.device
        offsets = index.to(device)[:, None] * self.seq_len + torch.arange(self.seq_len + 1, device=device)  # (B, T+1)
        window = self.tokens[offsets]
        return window[:, :-1], window[:, 1:]

    def in_order(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Every chunk once, in order (evaluation); the last batch may be smaller."""
        for start in range(0, self.n, batch_size):
            yield self.gather(torch.arange(start, min(start + batch_size, self.n)))


class TrainBatches:
    """Training batches as a function of the step: epoch ``s // steps_per_epoch`` reshuffles the chunks."""

    def __init__(self, chunks: Chunks, batch_size: int, seed: int) -> None:
        self.chunks, self.batch_size, self.seed = chunks, batch_size, seed
        self.steps_per_epoch = chunks.n // batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(f"{chunks.n} training chunks do not fill one batch of {batch_size}")
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> tuple[Tensor, Tensor]:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.chunks.n, generator=gen)  # drawn on the CPU: the same on every device
            self._epoch, self._order = epoch, order.to(self.chunks.tokens.device)
        return self.chunks.gather(self._order[i * self.batch_size : (i + 1) * self.batch_size])


def main(argv: list[str] | None = None) -> None:
    """Prepare the cache of a data configuration given as ``data.key=value`` overrides."""
    from common.config import load_config
    from nlp.config import NLPConfig

    parser = argparse.ArgumentParser(
        description="Learn the BPE and encode the splits of a corpus into the cache (prints the cache folder).",
        epilog="e.g. data.corpus=wikitext2 data.vocab_size=16000, or data.corpus=text data.path=my.txt",
    )
    parser.add_argument("overrides", nargs="*", help="data.key=value settings (see nlp/config.py DataConfig)")
    cfg = load_config(NLPConfig, None, parser.parse_args(argv).overrides)
    print(prepare(cfg.data))


if __name__ == "__main__":
    cli(main)
