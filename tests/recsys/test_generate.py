"""The generator: seeded, in the exact Kaggle layout, read back without a malformed line."""

from __future__ import annotations

import json
import re

from recsys.config import GeneratorConfig
from recsys.generate import generate
from recsys.reader import iter_blocks

CFG = GeneratorConfig(rows=4000, seed=3)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    info = generate(CFG, a)
    generate(CFG, b)
    generate(GeneratorConfig(rows=4000, seed=4), c)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert json.loads((tmp_path / "a.txt.json").read_text()) == info


def test_kaggle_layout(tmp_path):
    path = tmp_path / "rows.txt"
    info = generate(CFG, path)
    lines = path.read_text().split("\n")
    assert lines[-1] == "" and len(lines) == CFG.rows + 1
    integer, hexadecimal = re.compile(r"^(-?\d+)?$"), re.compile(r"^([0-9a-f]{8})?$")
    empty = 0
    for line in lines[:-1]:
        fields = line.split("\t")
        assert len(fields) == 40 and fields[0] in ("0", "1")
        assert all(integer.match(f) for f in fields[1:14]) and all(hexadecimal.match(f) for f in fields[14:])
        empty += fields.count("")
    assert 0.1 < empty / (40 * CFG.rows) < 0.3  # about the real file's share of empty fields
    assert abs(info["positive_rate"] - CFG.positive_rate) < 0.03
    assert 0.5 < info["bayes_auc"] < 1.0
    blocks = list(iter_blocks(path, 1 << 16))
    assert sum(len(b.label) for b in blocks) == CFG.rows and not any(b.malformed for b in blocks)
