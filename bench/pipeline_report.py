"""The cost model, targets, tables and README section of ``bench/pipeline_speed.py``, from its JSON records only.

Cost model, per micro-batch and stage p (measured by each process on its own stage, without communication; on
CPU in CPU time, which is the wall time of one thread on a quiet machine):
``f_p`` the forward, ``b_p`` BP's backward (input gradients ``i_p`` and weight gradients ``w_p``), ``f'_p``
DFA's forward (with, on the last stage, the loss and ``e``) and ``d_p`` DFA's learning (``e @ B`` and the
weight gradients). With P stages and M micro-batches:

* GPipe and 1F1B: ``(M + P - 1) · max_p (f_p + b_p)`` — the bubble is (P - 1)/(M + P - 1) of the step;
* zero-bubble, ideally: ``M · max_p (f_p + b_p)`` — no bubble at all (a bound no BP schedule beats);
* DFA: ``Σ_{p<P-1} f'_p + M · max_p (f'_p + d_p)`` — the forward fills the pipeline once; after that each
  stage alternates forward and learning, and never waits for a gradient from above.

In FLOPs alone (``i = w = f`` for matmul layers; ``d = w``), DFA / GPipe = (2M + P - 1) / (3(M + P - 1)) and
DFA / ideal zero-bubble = (2M + P - 1) / (3M).
"""

from __future__ import annotations

from typing import Any

TARGETS = {("mlp-1024", 2, 8): {"chain": 0.70, "zero_bubble": 0.80}}
"""(workload, P, M) -> the most DFA's step time may be, as a fraction of the best GPipe/1F1B time ("chain")
and of the best zero-bubble time; checked at the default sizes only."""
CHAIN, ZERO_BUBBLE = ("gpipe", "1f1b"), ("interleaved-zb", "zbv")
NAMES = {"gpipe": "GPipe", "1f1b": "1F1B", "interleaved-zb": "interleaved ZB", "zbv": "ZBV", "dfa": "DFA"}


def cost_model(parts: list[dict[str, float]], n_micro: int) -> dict[str, float]:
    """Step times (ms) the model predicts from each stage's measured parts, and DFA's ratios to BP's."""
    stages = len(parts)
    bp = max(p["bp_forward"] + p["bp_backward"] for p in parts)
    dfa = sum(p["dfa_forward"] for p in parts[:-1]) + n_micro * max(p["dfa_forward"] + p["dfa_learn"] for p in parts)
    chain, zero_bubble = (n_micro + stages - 1) * bp, n_micro * bp
    return {"chain_ms": chain, "zero_bubble_ms": zero_bubble, "dfa_ms": dfa, "chain": dfa / chain,
            "zero_bubble": dfa / zero_bubble}  # fmt: skip


def flop_model(stages: int, n_micro: int) -> dict[str, float]:
    """The same ratios when only matmul FLOPs count (input and weight gradients each cost a forward)."""
    dfa = 2 * n_micro + stages - 1
    return {"chain": dfa / (3 * (n_micro + stages - 1)), "zero_bubble": dfa / (3 * n_micro)}


def attach_verdicts(row: dict[str, Any], stages: int, default_sizes: bool) -> None:
    """Add DFA's measured ratios to the best BP schedules, the models' ratios and, if any, the target."""
    median = {name: m["median_ms"] for name, m in row["methods"].items()}
    row["ratio"] = {}
    for group, names in (("chain", CHAIN), ("zero_bubble", ZERO_BUBBLE)):
        present = [median[n] for n in names if n in median]
        if present and "dfa" in median:
            row["ratio"][group] = median["dfa"] / min(present)
    row["model"] = cost_model(row["parts"], row["n_micro"])
    row["flop_model"] = flop_model(stages, row["n_micro"])
    target = TARGETS.get((row["workload"], stages, row["n_micro"]))
    if target and default_sizes:
        row["target"] = {
            group: {"max": bound, "met": group in row["ratio"] and row["ratio"][group] <= bound}
            for group, bound in target.items()
        }


def table(rows: list[dict[str, Any]]) -> str:
    """Median step times, DFA's ratios to the best BP schedules (measured, cost model, FLOP model), targets."""
    lines = [
        "| model | M | " + " | ".join(f"{NAMES[n]} ms" for n in (*CHAIN, *ZERO_BUBBLE, "dfa"))
        + " | DFA / best of GPipe, 1F1B | model | FLOPs | DFA / best ZB | model | FLOPs | target |",
        "|---|--:|" + "--:|" * 5 + "--:|--:|--:|--:|--:|--:|---|",
    ]  # fmt: skip
    for row in rows:
        cells = [_ms(row, name) for name in (*CHAIN, *ZERO_BUBBLE, "dfa")]
        for group in ("chain", "zero_bubble"):
            measured = row["ratio"].get(group)
            cells += [f"**{measured:.3f}**" if measured else "—", f"{row['model'][group]:.3f}",
                      f"{row['flop_model'][group]:.3f}"]  # fmt: skip
        cells.append(_verdict(row.get("target")))
        lines.append(f"| {row['workload']} | {row['n_micro']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parts_table(rows: list[dict[str, Any]]) -> str:
    """Each stage's measured parts, in ms per micro-batch: the inputs of the cost model."""
    lines = [
        "| model | M | stage | BP forward | BP backward | DFA forward | DFA learning |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        for stage, p in enumerate(row["parts"]):
            lines.append(
                f"| {row['workload']} | {row['n_micro']} | {stage} | {p['bp_forward']:.1f} | {p['bp_backward']:.1f} | "
                f"{p['dfa_forward']:.1f} | {p['dfa_learn']:.1f} |"
            )
    return "\n".join(lines)


def model_table(rows: list[dict[str, Any]]) -> str:
    """The cost model's step times next to the measured medians (ms), and the CPU time a step costs all
    processes together (bubbles cost no CPU time: its ratio is the work DFA saves, without the bubble)."""
    lines = [
        "| model | M | GPipe/1F1B: model | measured (best) | ZB: ideal | measured (best) | DFA: model | measured | "
        "CPU ms per step: GPipe | DFA |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        model, best = row["model"], _best(row)
        lines.append(
            f"| {row['workload']} | {row['n_micro']} | {model['chain_ms']:.0f} | {best['chain']} | "
            f"{model['zero_bubble_ms']:.0f} | {best['zero_bubble']} | {model['dfa_ms']:.0f} | {_median(row, 'dfa')} | "
            f"{_median(row, 'gpipe', 'cpu_median_ms')} | {_median(row, 'dfa', 'cpu_median_ms')} |"
        )
    return "\n".join(lines)


def _median(row: dict[str, Any], name: str, key: str = "median_ms") -> str:
    return f"{row['methods'][name][key]:.0f}" if name in row["methods"] else "—"


def _best(row: dict[str, Any]) -> dict[str, str]:
    out = {}
    for group, names in (("chain", CHAIN), ("zero_bubble", ZERO_BUBBLE)):
        present = [row["methods"][n]["median_ms"] for n in names if n in row["methods"]]
        out[group] = f"{min(present):.0f}" if present else "—"
    return out


def _ms(row: dict[str, Any], name: str) -> str:
    if name in row["methods"]:
        m = row["methods"][name]
        return f"{m['median_ms']:.0f} ({m['q1_ms']:.0f}–{m['q3_ms']:.0f})"
    return "does not run" if name in row.get("skipped", {}) else "—"


def _verdict(target: dict[str, Any] | None) -> str:
    if not target:
        return ""
    return "; ".join(
        f"{'GPipe/1F1B' if group == 'chain' else 'ZB'} ≤ {t['max']:.2f}: {'met' if t['met'] else 'NOT met'}"
        for group, t in target.items()
    )


def render_section(records: list[dict[str, Any]]) -> str:
    """The pipeline section of bench/README.md: the fixed explanation, then one part per recorded device type."""
    parts = [SECTION_HEAD]
    for record in records:
        device, load, settings = record["device"], record["load"], record["settings"]
        sizes = {row["workload"]: row["size"] for row in record["rows"]}
        parts.append(
            f"### {device['type'].upper()}: {device['name']}, {device['processes']} processes ({device['backend']})\n\n"
            f"`{record['command']}` on {record['created']}; torch {device['torch']}, {device['threads']} torch "
            f"thread(s) per process; {settings['repeats']} timed steps per method after {settings['warmup']} "
            f"warm-up step(s); {settings['optimizer']}. Load average (1, 5, 15 min) before: {_load(load['before'])}; "
            f"after: {_load(load['after'])}.\n\n"
            "Median step time in ms (interquartile range), DFA's ratio to the better BP schedule of each kind, "
            "and the ratios the cost model (from the measured parts below) and FLOPs alone predict (FLOPs: input "
            "gradient = weight gradient = forward for every layer, and a point after every layer, as in the MLP):\n\n"
            f"{table(record['rows'])}\n\n"
            f"Sizes: {'; '.join(f'{name}: {_size(size)}' for name, size in sizes.items())}.\n\n"
            f"{_skipped(record['rows'])}"
            "Each stage's parts, in ms per micro-batch, timed by its own process without communication (on CPU, "
            "in CPU time: with one thread, the wall time on a quiet machine):\n\n"
            f"{parts_table(record['rows'])}\n\n"
            "The cost model's step times next to the measured ones (ms):\n\n"
            f"{model_table(record['rows'])}\n\n"
            f"{findings(record)}\n"
        )
    if not any(record["device"]["type"] == "cuda" for record in records):
        parts.append(GPU_NOTE)
    return "\n".join(parts)


def findings(record: dict[str, Any]) -> str:
    """What the record shows about the paper's claim that DFA parallelizes the backward pass, in its numbers."""
    lines = [
        "**What this shows.** Per row: DFA's step time against the best BP schedules (cost model, FLOPs alone); the "
        "work of one micro-batch on the slowest stage, DFA's (forward and learning) against BP's (forward and "
        "backward), which is what DFA saves besides the bubble; and the CPU time of a whole step."
    ]
    for row in record["rows"]:
        ratio, model, flops, methods = row["ratio"], row["model"], row["flop_model"], row["methods"]
        if "chain" not in ratio:
            continue
        text = (
            f"{row['workload']}, M = {row['n_micro']}: DFA {methods['dfa']['median_ms']:.0f} ms per step, "
            f"{ratio['chain']:.2f}× the better of GPipe and 1F1B (model {model['chain']:.2f}, "
            f"FLOPs {flops['chain']:.2f})"
        )
        if "zero_bubble" in ratio:
            text += (
                f" and {ratio['zero_bubble']:.2f}× the better zero-bubble schedule (model {model['zero_bubble']:.2f}, "
                f"FLOPs {flops['zero_bubble']:.2f})"
            )
        if target := row.get("target"):
            text += "; target " + _verdict(target)
        bp = max(p["bp_forward"] + p["bp_backward"] for p in row["parts"])
        dfa = max(p["dfa_forward"] + p["dfa_learn"] for p in row["parts"])
        text += f". Slowest stage per micro-batch: DFA {dfa:.0f} ms, BP {bp:.0f} ms ({dfa / bp:.2f})"
        if "gpipe" in methods:
            cpu = methods["dfa"]["cpu_median_ms"] / methods["gpipe"]["cpu_median_ms"]
            text += f"; CPU time per step, DFA / GPipe: {cpu:.2f}"
        lines.append(f"* {text}.")
    return "\n".join([*lines, _load_note(record)]) + "\n\n" + CLAIM_NOTE


def _load_note(record: dict[str, Any]) -> str:
    """How far wall time strayed from the CPU-time cost model: the sign of a loaded machine."""
    stretch = [row["methods"][n]["median_ms"] / row["model"]["chain_ms"] for row in record["rows"]
               for n in CHAIN if n in row["methods"]]  # fmt: skip
    if not stretch or max(stretch) < 1.5:
        return ""
    return (
        f"\nIn this run a BP step's wall time was {min(stretch):.1f}–{max(stretch):.1f}× what the cost model predicts "
        f"from CPU time, at a load average of {record['load']['before'][0]:.1f}–{record['load']['after'][0]:.1f} on "
        f"{record['device']['name'].rsplit(', ', 1)[-1]}: other processes held most of the CPU, and the ratios of wall "
        "times carry that noise. The CPU time per step and the per-micro-batch work measure DFA's saving without it; "
        "re-run on a quiet machine for the wall-time ratios."
    )


def _skipped(rows: list[dict[str, Any]]) -> str:
    notes = [f"{NAMES[name]} at {row['workload']}, M = {row['n_micro']}: {why}" for row in rows
             for name, why in row.get("skipped", {}).items()]  # fmt: skip
    return ("Schedules that refuse this shape: " + "; ".join(notes) + ".\n\n") if notes else ""


def _size(size: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in size.items())


def _load(load: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


SECTION_HEAD = """## Pipeline-parallel training across processes: BP under PyTorch's schedules, and DFA

*Generated by `python -m bench.pipeline_speed` (`--write-readme` or `--publish`) from
`bench/latest/pipeline/<device>.json`; do not edit.*

A model is cut into pipeline stages on P processes (`bench/pipeline_stages.py`: contiguous blocks, the cut that
leaves the busiest process the least work, for each layout), and each step of M micro-batches is timed as a
full training step (zero_grad, the pipeline's forwards and backwards, Adam step):

* **GPipe**, **1F1B**: BP under `torch.distributed.pipelining`'s `ScheduleGPipe` and `Schedule1F1B`, one stage
  per process. Each stage waits for the gradient of the stage above: the bubble is (P − 1)/(M + P − 1).
* **interleaved ZB**, **ZBV**: `ScheduleInterleavedZeroBubble` and `ScheduleZBVZeroBubble`, two stages per
  process. They split BP's backward into input gradients (on the critical path) and weight gradients, which
  fill the bubble: the strongest BP schedules PyTorch offers.
* **DFA**: `common.pipeline.DFAPipeline`, one stage per process. The forward flows up as in BP; the last stage
  sends each micro-batch's error `e` to every stage at once, and each stage learns (`e @ B`, then its local
  weight gradients) as soon as it holds `e`, never waiting for a gradient from above, and frees that
  micro-batch's activations. Its updates equal single-process DFA's (`tests/common/test_pipeline_dfa.py`).

All methods start from the same weights, see the same batch cut into the same M micro-batches, and run on
the same processes with the same threads, in turn and in a rotating order; a step's time is the slowest
process's, from a common barrier. The cost model (`bench/pipeline_report.py`) uses each stage's forward `f`,
BP backward `b` (input and weight gradients), DFA forward `f'` and DFA learning `d`, measured per micro-batch:
GPipe/1F1B = (M + P − 1) · max(f + b); ideal zero-bubble = M · max(f + b); DFA = Σ f' (fill) + M · max(f' + d).

Commands, from the repository root:

* `python -m bench.pipeline_speed --write-readme` (spawns P = 2 processes; `--nproc`, `--micro`, `--repeats`,
  `--warmup`, `--families`, `--methods`, `--quick`)
* `torchrun --nproc-per-node 2 -m bench.pipeline_speed --write-readme` (the same, launched by torchrun)
"""

CLAIM_NOTE = """The paper motivates DFA by the parallel backward pass it allows: every layer's update needs only the
global error, not the gradient of the layer above. Across processes this is concrete: a DFA stage never waits
for a gradient from above, so the pipeline has no backward drain and each stage does a forward and its weight
gradients, not input gradients. Against GPipe and 1F1B, DFA gains both the bubble and the input gradients;
against zero-bubble BP, which already fills the bubble with weight gradients, only the input gradients (and
it pays its own one-forward fill).

How much DFA saves besides the bubble depends on where its points sit: a point cuts the graph at its own place
only, and its signal still backpropagates through everything between it and the point below. The MLP has a
point after every linear layer, so DFA skips every input gradient. A Transformer block with macro points
(one after each block) still backpropagates inside the block: DFA skips only each block's input gradient, and
the last stage, which reads `e` below the vocabulary head, backpropagates through the head as BP does. Micro
points also cut after attention and after the feed-forward activation, so the feed-forward input gradients
go as well.

The cost model leaves out what separates it from the measurement: the optimizer step (the same for every
method), communication (activations, BP's gradients and DFA's `e` cross process boundaries through gloo, whose
threads share the CPU cores with the stages), each schedule's own bookkeeping (the zero-bubble schedules run
twice as many stages and split the backward in two autograd calls), and, on a shared machine, other processes'
load, which stretches wall time (the CPU time of a step measures the work itself)."""

GPU_NOTE = """### GPU

Not measured: no GPU was available. On a machine with P GPUs the same commands run with NCCL
(chosen when CUDA is present; one GPU per process, `LOCAL_RANK` under torchrun, and a GPU clock): the
stages' tensors live on their GPU, activations and `e` travel by NCCL point-to-point sends (NVLink or PCIe
within a node, InfiniBand across nodes). A GPU's forward and weight-gradient matmuls are far shorter than a
CPU's, so communication weighs more: micro-batches must stay large enough that a stage's compute hides the
transfer of its activation, and `e` (the size of the output, small for a classifier, a d_model-wide tensor per
token for the Transformer) is sent to P − 1 stages per micro-batch, which a broadcast would replace beyond a
few stages.
"""
