"""Streaming reader of Criteo-format text, vectorised with NumPy.

The layout is the Kaggle Display Advertising Challenge ``train.txt``: one row per line, 40 tab-separated
fields — the label (0 or 1), 13 integer fields I1..I13 and 26 categorical fields C1..C26, each categorical
value a 32-bit hash written as 8 hexadecimal digits. Any field but the label may be empty.

The file is read in blocks of bytes; each block is parsed without creating one Python object per field
(field boundaries from the positions of tabs and newlines, integers and hexadecimal values decoded over all
rows at once); ``bench/recsys_preprocess.py`` measures its speed. Every field becomes a 64-bit *key*:

* integer field, value ``v``: ``int(log(v)^2)`` if ``v > 2`` (the Criteo winners' discretisation), else
  ``v - 2`` (pytorch-fm's convention, which keeps small and negative values apart from the log buckets ≥ 1);
* categorical field: the 32-bit value of its hexadecimal digits (at most 8, upper or lower case);
* empty field: flagged in ``missing`` (its key is 0 and meaningless).

A malformed row is skipped and counted under the first reason it meets, in the order of
:data:`MALFORMED_REASONS`; it never stops the reader nor shifts the columns of other rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

N_INT, N_CAT = 13, 26
N_FIELDS = N_INT + N_CAT
N_COLUMNS = 1 + N_FIELDS
FIELD_NAMES = tuple(f"I{i}" for i in range(1, N_INT + 1)) + tuple(f"C{i}" for i in range(1, N_CAT + 1))
MALFORMED_REASONS = {
    "field_count": f"not {N_COLUMNS} tab-separated fields",
    "label": "label not 0 or 1",
    "integer": "integer field not a decimal integer (at most 16 characters; negative: at most 9 digits)",
    "categorical": "categorical field not a hexadecimal value of at most 8 digits",
}
TAB, NEWLINE, MINUS = 9, 10, 45
MAX_INT_CHARS = 16  # two 8-byte words; the real file's integers have at most 10
MAX_NEGATIVE_DIGITS = 9  # so that v − 2 stays within int32
HEX_CHARS = 8
PAD = 16  # zero bytes around a block, so that 8-byte reads never leave the buffer

_U = np.uint64
_ALL = 2**64 - 1
# Masks that keep the first k bytes (low end) or the last k bytes (high end) of a little-endian word, k = 0..8.
_KEEP_LOW = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [_ALL], dtype=np.uint64)
_KEEP_HIGH = np.array([_ALL ^ ((1 << (8 * (8 - k))) - 1) if k else 0 for k in range(9)], dtype=np.uint64)


def _rep(byte: int) -> np.uint64:
    """``byte`` in each of the 8 bytes of a word."""
    return _U(byte * 0x0101010101010101)


@dataclass
class Block:
    """The well-formed rows of one block of lines."""

    line: np.ndarray
    """(n,) int64: 0-based line number of each row in the file (malformed lines count too)."""
    label: np.ndarray
    """(n,) uint8."""
    keys: np.ndarray
    """(n, 39) int64: one key per field (see the module docstring)."""
    missing: np.ndarray
    """(n, 39) bool: the field was empty."""
    lines_read: int
    """Lines in the block, malformed ones included."""
    nbytes: int
    """Bytes of text in the block."""
    bad_lines: dict[str, np.ndarray] = field(default_factory=dict)
    """Line numbers of the malformed lines, by reason (keys of :data:`MALFORMED_REASONS`)."""

    @property
    def malformed(self) -> Counter:
        """Number of malformed lines by reason."""
        return +Counter({reason: len(lines) for reason, lines in self.bad_lines.items()})


def iter_blocks(path: Path, block_bytes: int = 8 << 20) -> Iterator[Block]:
    """Parse ``path`` block by block; memory holds one block (about ``block_bytes``) at a time."""
    first_line = 0
    rest = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(block_bytes):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # a line longer than the block: keep reading
                rest = data
                continue
            rest = data[cut:]
            block = parse_block(data[:cut], first_line)
            first_line += block.lines_read
            yield block
    if rest:  # the last line has no newline
        yield parse_block(rest + b"\n", first_line)


def parse_block(text: bytes, first_line: int = 0) -> Block:
    """Parse complete lines (``text`` ends with a newline) numbered from ``first_line``."""
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    padded = np.zeros(len(text) + 2 * PAD, dtype=np.uint8)
    padded[PAD:-PAD] = np.frombuffer(text, dtype=np.uint8)
    buf = padded[PAD:-PAD]
    seps = np.flatnonzero((buf == TAB) | (buf == NEWLINE)) + PAD  # every field ends at a separator
    line_end = np.searchsorted(seps, np.flatnonzero(buf == NEWLINE) + PAD)  # index in seps of each newline
    n_lines = len(line_end)
    fields_per_line = np.diff(line_end, prepend=-1)
    good = fields_per_line == N_COLUMNS
    line_number = first_line + np.arange(n_lines)
    bad_lines = {"field_count": line_number[~good]}
    if good.all():
        ends = seps.reshape(n_lines, N_COLUMNS)
    else:
        ends = seps[(line_end[good] - (N_COLUMNS - 1))[:, None] + np.arange(N_COLUMNS)]
    starts = np.empty_like(ends)
    starts[:, 1:] = ends[:, :-1] + 1
    starts[:, 0] = np.concatenate(([PAD], seps[line_end[:-1]] + 1))[good]
    lengths = ends - starts

    # Every 8-byte window of the block as a little-endian uint64 (unaligned view, no copy).
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    label_byte = padded[starts[:, 0]]
    label_ok = (lengths[:, 0] == 1) & ((label_byte == ord("0")) | (label_byte == ord("1")))
    int_keys, int_ok = _parse_integers(words, ends[:, 1:14], lengths[:, 1:14])
    cat_keys, cat_ok = _parse_hex(words[starts[:, 14:]], lengths[:, 14:])

    ok = np.ones(len(starts), dtype=bool)
    for reason, valid in (("label", label_ok), ("integer", int_ok.all(1)), ("categorical", cat_ok.all(1))):
        bad_lines[reason] = line_number[good][ok & ~valid]  # each line counted once, under its first reason
        ok &= valid
    keys = np.concatenate([int_keys, cat_keys.astype(np.int64)], axis=1)[ok]
    return Block(
        line=line_number[good][ok],
        label=(label_byte[ok] - ord("0")).astype(np.uint8),
        keys=keys,
        missing=(lengths[:, 1:] == 0)[ok],
        lines_read=n_lines,
        nbytes=len(text),
        bad_lines=bad_lines,
    )


def transform_integer(v: np.ndarray) -> np.ndarray:
    """``int(log(v)^2)`` where ``v > 2``, else ``v - 2`` (int64 in, int64 out)."""
    logs = np.log(np.maximum(v, 3).astype(np.float64))
    return np.where(v > 2, (logs * logs).astype(np.int64), v - 2)


def _parse_integers(words: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal fields → transformed keys (n, 13) and validity; empty fields are valid (key 0).

    A field's last 8 characters are read as one word ending at the field's end, its (rare) earlier
    characters as a second word; each word is decoded with bit operations on all fields at once.
    """
    value, ok, negative = _decimal_word(words[ends - 8], np.minimum(lengths, 8), sign_allowed=lengths <= 8)
    long = np.flatnonzero(lengths.ravel() > 8)  # views below: value, ok and negative are contiguous
    if len(long):  # more than 8 characters: the earlier ones (and the sign) sit in the word before
        earlier = words[ends.ravel()[long] - 16]
        high, high_ok, high_negative = _decimal_word(earlier, np.minimum(lengths.ravel()[long] - 8, 8), True)
        value.ravel()[long] += high * 10**8
        ok.ravel()[long] &= high_ok
        negative.ravel()[long] = high_negative
    digits = lengths - negative
    ok &= (lengths <= MAX_INT_CHARS) & ~(negative & ((digits == 0) | (digits > MAX_NEGATIVE_DIGITS)))
    value = np.where(negative, -value, value)
    return np.where(ok & (lengths > 0), transform_integer(value), 0), ok


def _decimal_word(word: np.ndarray, chars: np.ndarray, sign_allowed: np.ndarray | bool) -> tuple[np.ndarray, ...]:
    """Decode the last ``chars`` bytes of each little-endian word as decimal text: (value, ok, negative)."""
    first = (word >> (_U(8) * (8 - chars).astype(np.uint64))) & _U(0xFF)
    negative = sign_allowed & (chars > 0) & (first == MINUS)
    keep = _KEEP_HIGH[chars - negative]  # the digits; the leading bytes become zeros, i.e. leading zeros
    text = word & keep
    # A digit is 0x30..0x39: high nibble 3, and a low nibble that does not reach 0x10 when 6 is added.
    ok = ((text & _rep(0xF0)) == (_rep(0x30) & keep)) & ((((text & _rep(0x0F)) + _rep(0x06)) & _rep(0x10)) == 0)
    d = text & _rep(0x0F)  # digit values, most significant in the lowest byte
    d = (d * _U(10) + (d >> _U(8))) & _U(0x00FF00FF00FF00FF)
    d = (d * _U(100) + (d >> _U(16))) & _U(0x0000FFFF0000FFFF)
    d = (d * _U(10000) + (d >> _U(32))) & _U(0xFFFFFFFF)
    return d.astype(np.int64), ok, negative


def _parse_hex(raw: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hexadecimal fields → 32-bit values (n, 26) as uint64 and validity; empty fields are valid (value 0).

    ``raw`` holds each field's first 8 bytes as a little-endian uint64 (first character in the lowest
    byte); all fields are decoded at once with bit operations.
    """
    keep = _KEEP_LOW[np.minimum(lengths, HEX_CHARS)]
    raw = raw & keep
    text = raw | (_rep(0x20) & keep)  # lower-case the letters (digits already have bit 5 set)
    nibble = (text & _rep(0x0F)) + _U(9) * ((text >> _U(6)) & _rep(0x01))  # '0'..'9' → 0..9, 'a'..'f' → 10..15
    # Encode the nibbles back to text: equal to the input only where every character was a hex digit.
    above9 = ((nibble + _rep(0x76)) >> _U(7)) & _rep(0x01)
    again = (nibble + _rep(0x30) + _U(0x27) * above9) & keep
    in_range = ((nibble + _rep(0x70)) & _rep(0x80)) == 0  # every nibble ≤ 15 ('g'..'o' would give 16..24)
    ok = (again == text) & in_range & (lengths <= HEX_CHARS)
    # Pack the 8 nibbles (first character most significant), then drop the padding nibbles.
    packed = ((nibble & _U(0x000F000F000F000F)) << _U(4)) | ((nibble >> _U(8)) & _U(0x000F000F000F000F))
    packed = ((packed & _U(0x000000FF000000FF)) << _U(8)) | ((packed >> _U(16)) & _U(0x000000FF000000FF))
    packed = ((packed & _U(0x000000000000FFFF)) << _U(16)) | ((packed >> _U(32)) & _U(0xFFFF))
    shift = (_U(4) * (HEX_CHARS - np.minimum(lengths, HEX_CHARS))).astype(np.uint64)
    return np.where(ok, packed >> shift, _U(0)), ok
