"""The Criteo-format reader against a plain-Python reference, on hand-written rows."""

from __future__ import annotations

import math

import numpy as np

from recsys.reader import N_COLUMNS, iter_blocks, parse_block, transform_integer

INTS = ["1", "", "5", "0", "1382", "4", "15", "2", "181", "1", "2", "", "2"]
CATS = ["68fd1e64", "80e26c9b", "fb936136", "7b4723c4", "25c83c98", "7e0ccccf", "de7995b8", "1f89b562",
        "a73ee510", "a8cd5504", "b2cb9c98", "37c9c164", "2824a5f6", "1adce6ef", "8ba8b39a", "891b62e7",
        "e5ba7672", "f54016b9", "21ddcdc9", "b1252a9d", "07b5194c", "", "3a171ecb", "c5c50484",
        "e8b83407", "9727dd16"]  # fmt: skip


def line(label: str = "0", ints: list[str] = INTS, cats: list[str] = CATS) -> str:
    return "\t".join([label, *ints, *cats])


def reference(text: str) -> list[tuple[int, list]]:
    """What each well-formed line should parse to: (line number, [label, keys...]); None for empty fields."""
    rows = []
    for number, raw in enumerate(text.split("\n")[:-1]):
        fields = raw.split("\t")
        if len(fields) != N_COLUMNS or fields[0] not in ("0", "1"):
            continue
        try:
            ints = [None if f == "" else int(f) for f in fields[1:14]]
            cats = [None if f == "" else int(f, 16) for f in fields[14:]]
        except ValueError:
            continue
        if any(c is not None and len(f) > 8 for c, f in zip(cats, fields[14:], strict=True)):
            continue
        keys = [None if v is None else (int(math.log(v) ** 2) if v > 2 else v - 2) for v in ints]
        rows.append((number, [int(fields[0]), *keys, *cats]))
    return rows


HAND_WRITTEN = (
    "\n".join(
        [
            line("1"),  # 0: a real-looking row
            line("0", ["", *[""] * 12], [""] * 26),  # 1: every feature empty
            line("0", ["-3", "-1", "0", "2", "3", "20", "9999999999", "7", "8", "9", "10", "11", "12"]),  # 2: edge ints
            line("1", INTS, ["ABCDEF01", "0", "f", "123", *CATS[4:]]),  # 3: upper case, short hex
            line("0")[:-9],  # 4: one field short
            line("0") + "\textra",  # 5: one field too many
            line("2"),  # 6: bad label
            line("1", ["x1", *INTS[1:]]),  # 7: non-numeric integer
            line("1", ["1.5", *INTS[1:]]),  # 8: non-numeric integer
            line("1", INTS, ["zz", *CATS[1:]]),  # 9: non-hex categorical
            line("1", INTS, ["123456789", *CATS[1:]]),  # 10: 9 hex digits: not a 32-bit hash
            line("1", ["-", *INTS[1:]]),  # 11: a sign alone
            "",  # 12: an empty line
            line("0", ["12345678901234", *INTS[1:]]),  # 13: a 14-digit integer (two words)
        ]
    )
    + "\n"
)


def test_parse_matches_reference_and_counts_malformed():
    block = parse_block(HAND_WRITTEN.encode())
    expected = reference(HAND_WRITTEN)
    assert block.lines_read == 14
    assert block.line.tolist() == [n for n, _ in expected] == [0, 1, 2, 3, 13]
    for row, (_, values) in enumerate(expected):
        assert block.label[row] == values[0]
        for f, value in enumerate(values[1:]):
            assert block.missing[row, f] == (value is None), (row, f)
            if value is not None:
                assert block.keys[row, f] == value, (row, f)
    assert block.malformed == {"field_count": 3, "label": 1, "integer": 3, "categorical": 2}
    assert block.bad_lines["field_count"].tolist() == [4, 5, 12]
    assert block.bad_lines["integer"].tolist() == [7, 8, 11]
    assert block.bad_lines["categorical"].tolist() == [9, 10]


def test_blocks_do_not_shift_columns(tmp_path):
    """The same rows, read in blocks of every size, with CRLF and without a final newline."""
    path = tmp_path / "rows.txt"
    text = HAND_WRITTEN * 3
    path.write_bytes(text.replace("\n", "\r\n").encode()[:-2])
    whole = parse_block(text.encode())
    for block_bytes in (64, 997, 4096, 1 << 20):
        blocks = list(iter_blocks(path, block_bytes))
        np.testing.assert_array_equal(np.concatenate([b.keys for b in blocks]), np.tile(whole.keys[:5], (3, 1)))
        assert np.concatenate([b.line for b in blocks]).tolist() == [
            n + 14 * k for k in range(3) for n in (0, 1, 2, 3, 13)
        ]
        assert sum(sum(b.malformed.values()) for b in blocks) == 27


def test_integer_transform_matches_python():
    values = [*range(-5, 100_000), 2**31 - 1, 10**12, 99_999_999, 100_000_000, 10**15 + 7]
    expected = [int(math.log(v) ** 2) if v > 2 else v - 2 for v in values]
    assert transform_integer(np.array(values)).tolist() == expected


def test_hex_of_every_length_and_case():
    tokens = ["0", "a", "0F", "abc", "1234", "fFfFf", "deadbe", "7654321", "ffffffff", "00000000"]
    text = "".join(line("1", INTS, [t, *CATS[1:]]) + "\n" for t in tokens)
    block = parse_block(text.encode())
    assert block.keys[:, 13].tolist() == [int(t, 16) for t in tokens]
