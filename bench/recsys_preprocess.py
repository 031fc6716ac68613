"""Recsys preprocessing: rows per second and peak memory on a generated Criteo-format file.

Targets (recsys): at least 100,000 rows/s and at most 2 GiB of resident memory on a 5M-row file.

    python -m bench.recsys_preprocess                          # 5M rows (about 1.2 GB of text) in /tmp
    python -m bench.recsys_preprocess --rows 200000 --dir /tmp/recsys_bench_small   # a quick check

1. generates the file with ``recsys.generate`` (seed 0), unless it is already there;
2. runs ``python -m recsys.preprocess --input FILE --out DIR`` under ``/usr/bin/time -v``;
3. prints wall and CPU (user + sys) time, rows/s on both clocks, peak resident memory, the load average
   of the machine (other work inflates the wall clock, not the CPU time), and a linear extrapolation of
   the time to the real Kaggle ``train.txt`` (45,840,617 rows).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from common.paths import ROOT
from common.run import cli
from recsys.config import CRITEO_CARDINALITIES, GeneratorConfig
from recsys.data import file_dataset
from recsys.generate import generate

CRITEO_ROWS = 45_840_617
TIME = "/usr/bin/time"


def measure(src: Path, out: Path) -> dict:
    """Preprocess ``src`` into ``out`` in a child process under ``/usr/bin/time -v``; parse its report."""
    command = [TIME, "-v", sys.executable, "-m", "recsys.preprocess", "--input", str(src), "--out", str(out)]
    env = {**os.environ, "DFA_PROGRESS": "0"}
    load_before = os.getloadavg()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    load_after = os.getloadavg()

    def field(label: str) -> str:
        return re.search(rf"{re.escape(label)}: (.+)", done.stderr).group(1).strip()

    h_m_s = [float(part) for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(value * 60**i for i, value in enumerate(reversed(h_m_s)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    stats = json.loads(file_dataset(src, out)[1].stats.read_text())  # out/file-<hash>/, as train's data.cache=out
    lines = stats["lines"]
    distinct = sum(f["distinct"] for f in stats["fields"].values())
    return {
        "rows": lines,
        "text_bytes": src.stat().st_size,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s_wall": round(lines / wall),
        "rows_per_s_cpu": round(lines / cpu),
        "peak_rss_mib": round(int(field("Maximum resident set size (kbytes)")) / 1024, 1),
        "distinct_training_values": distinct,
        "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "cores": os.cpu_count(),
        "criteo_extrapolated_wall_min": round(wall * CRITEO_ROWS / lines / 60, 1),
        "criteo_extrapolated_cpu_min": round(cpu * CRITEO_ROWS / lines / 60, 1),
        "criteo_distinct_categorical_values": sum(CRITEO_CARDINALITIES),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/recsys_bench"), help="where the file and arrays go")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    src = args.dir / f"generated_{args.rows}.txt"
    if not src.exists():
        print(f"generating {args.rows:,} rows into {src} ...", file=sys.stderr)
        generate(GeneratorConfig(rows=args.rows, seed=0), src)
    result = measure(src, args.dir / "prepared")
    print(json.dumps(result, indent=2))
    r = result
    print(
        f"\n{r['rows']:,} rows: {r['rows_per_s_wall']:,} rows/s wall, {r['rows_per_s_cpu']:,} rows/s CPU "
        f"(target ≥ 100,000), peak RSS {r['peak_rss_mib']:,} MiB (target ≤ 2,048), load average "
        f"{r['load_average_1min']} on {r['cores']} cores. Full Criteo ({CRITEO_ROWS:,} rows) by linear "
        f"extrapolation: {r['criteo_extrapolated_wall_min']} min wall, {r['criteo_extrapolated_cpu_min']} min CPU."
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    cli(main)
