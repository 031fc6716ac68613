"""Training throughput (tokens/s) of the NLP Transformer under BP, DFA macro and DFA micro.

    python -m bench.nlp_throughput --config nlp/configs/transformer_wikitext2.yaml --amp bf16      # GPU, paper size
    python -m bench.nlp_throughput --config nlp/configs/transformer_wikitext2.yaml --device cpu \\
        --steps 5 model.n_layer=2 model.d_model=128 model.d_ff=512 train.batch_size=8         # CPU, small

Each variant (``kind:placement``) builds the model of the experiment config (with the given overrides),
runs ``--warmup`` untimed and ``--steps`` timed updates of :func:`nlp.train.train_step` (the training
loop's own step: forward, feedback backward, clipping, Adam) on random token ids of the configured
vocabulary, and reports tokens/s of wall-clock time and, on CPU, of process CPU time (robust to a loaded
machine). The result table is printed and, with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from common.config import load_config
from common.feedback import FeedbackConfig
from common.run import cli, pick_device
from common.seeding import seed_everything
from nlp.config import NLPConfig
from nlp.models import Transformer
from nlp.train import make_optimizer, train_step


def measure(cfg: NLPConfig, kind: str, placement: str, steps: int, warmup: int, device: torch.device) -> dict:
    """Time ``steps`` updates of one variant; tokens/s over wall time and (CPU) process time."""
    torch.manual_seed(cfg.seed)
    model_cfg = replace(cfg.model, placement=placement)
    feedback = replace(cfg.feedback, kind=kind) if cfg.feedback else FeedbackConfig(kind=kind)
    model = Transformer(model_cfg, cfg.data.vocab_size, feedback, seed=cfg.seed).to(device)
    opt = make_optimizer(cfg.train, model)
    shape = (cfg.train.batch_size, cfg.data.seq_len + 1)
    batches = [torch.randint(cfg.data.vocab_size, shape, device=device) for _ in range(4)]

    def run(n: int) -> None:
        for i in range(n):
            window = batches[i % len(batches)]
            train_step(model, opt, window[:, :-1], window[:, 1:], cfg.train)

    run(warmup)
    _sync(device)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run(steps)
    _sync(device)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    tokens = steps * cfg.train.batch_size * cfg.data.seq_len
    result = {
        "variant": f"{kind}:{placement}",
        "steps": steps,
        "tokens": tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
    }
    if device.type == "cpu":
        result |= {"cpu_s": round(cpu, 3), "tokens_per_cpu_s": round(tokens / cpu, 1)}
    else:
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        torch.cuda.reset_peak_memory_stats(device)
    return result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("nlp/configs/transformer_wikitext2.yaml"))
    parser.add_argument("--variants", nargs="+", default=["bp:macro", "dfa:macro", "dfa:micro"], help="kind:placement")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--device", default=None, help="overrides train.device (auto | cpu | cuda)")
    parser.add_argument("--amp", default=None, help="overrides train.amp (none | bf16)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model.n_layer=2")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    overrides += [f"train.device={args.device}"] if args.device else []
    overrides += [f"train.amp={args.amp}"] if args.amp else []
    cfg = load_config(NLPConfig, args.config, overrides)
    seed_everything(cfg.seed, args.threads)  # the settings of a training run (deterministic kernels included)
    device = pick_device(cfg.train.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    results = []
    for variant in args.variants:
        kind, _, placement = variant.partition(":")
        results.append(measure(cfg, kind, placement or "macro", args.steps, args.warmup, device))
        print(json.dumps(results[-1]), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    header = {
        "config": str(args.config),
        "overrides": overrides,
        "device": name,
        "threads": torch.get_num_threads(),
        "amp": cfg.train.amp,
        "model": f"{cfg.model.n_layer}L d{cfg.model.d_model} ff{cfg.model.d_ff} h{cfg.model.n_head}",
        "vocab": cfg.data.vocab_size,
        "batch": [cfg.train.batch_size, cfg.data.seq_len],
        "torch": torch.__version__,
    }
    print(f"# {json.dumps(header)}")
    base = results[0]
    for r in results:
        ratio = r["tokens_per_s"] / base["tokens_per_s"]
        print(f"{r['variant']:>12}: {r['tokens_per_s']:>12,.0f} tokens/s ({ratio:.2f}× {base['variant']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"header": header, "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    cli(main)
