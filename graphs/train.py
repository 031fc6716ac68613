"""Train a graph network on a graph (node classification or GAE link prediction) with one feedback method.

python -m graphs.train --config graphs/configs/gcn_cora.yaml --out results/x feedback.kind=dfa
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data

from common import kinds
from common.alignment import due, measure_alignment
from common.config import ConfigError
from common.metrics import BestTracker
from common.run import cli, pick_device, start_run
from graphs.config import GraphsConfig, TrainConfig
from graphs.data import graph_name, graph_source, load_graph, node_split, split_edges
from graphs.models import MODELS
from graphs.tasks import LinkPrediction, NodeClassification

KINDS = kinds.select("bp", "direct", "frozen")  # BP and every direct and frozen kind


def make_task(cfg: GraphsConfig, device: torch.device, data: Data | None = None) -> NodeClassification | LinkPrediction:
    """Load the graph (unless given), draw the split (on the CPU, from the run seed), build the task on ``device``."""
    data = load_graph(cfg.data) if data is None else data
    if cfg.task == "link":
        if cfg.model.out_channels <= 0:
            raise ConfigError("'model.out_channels' must be the embedding size (> 0) for task=link")
        gen = torch.Generator().manual_seed(cfg.seed)
        edges = split_edges(data.edge_index, data.num_nodes, cfg.data.val_edges, cfg.data.test_edges, gen)
        return LinkPrediction(data, edges, cfg.model.out_channels, device)
    if cfg.model.out_channels:
        raise ConfigError("'model.out_channels' must be 0 for task=node (the output is one logit per class)")
    masks = node_split(data, cfg.data, cfg.seed)
    return NodeClassification(data, masks, log_probs=cfg.model.error_at == "log_probs", device=device)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam; weight decay on every parameter, or on the first layer only (``train.decay=first``)."""
    if cfg.decay == "all":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if not hasattr(model, "conv1"):
        raise ConfigError(f"'train.decay=first' needs a two-layer model, not {type(model).__name__}")
    first = list(model.conv1.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in first)]
    groups = [{"params": first, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.Adam(groups, lr=cfg.lr)


def train(model: nn.Module, opt: torch.optim.Optimizer, task: NodeClassification | LinkPrediction) -> float:
    """One full-batch step; returns the training loss."""
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = task.loss(model)
    model.fb.backward(loss)
    opt.step()
    return loss.item()


def main(argv: list[str] | None = None) -> dict:
    run = start_run(argv, GraphsConfig, "graphs", KINDS, __doc__.splitlines()[0])
    cfg: GraphsConfig = run.cfg
    if cfg.model.name not in MODELS:
        raise ConfigError(f"'model.name' must be one of {sorted(MODELS)}, got {cfg.model.name!r}")

    device = pick_device(cfg.train.device)
    graph = load_graph(cfg.data)
    task = make_task(cfg, device, graph)
    model = MODELS[cfg.model.name](task.d_in, task.d_out, cfg.model, cfg.feedback, seed=cfg.seed).to(device)
    opt = make_optimizer(cfg.train, model)
    best = BestTracker()

    start = run.resume(model=model, optimizer=opt, best=best)
    for epoch in run.units(start, cfg.train.epochs, "epoch"):
        metrics = {"train/loss": train(model, opt, task), **task.evaluate(model)}
        if model.fb.projector is not None and due(cfg.feedback.align_every, epoch):
            model.train()
            metrics |= measure_alignment(model.fb, model.parameters(), lambda: task.loss(model), seed=epoch)
        best.update(metrics[task.select] if cfg.train.select == "best_val" else epoch, epoch + 1, metrics)
        run.log(epoch + 1, metrics)
        if (epoch + 1) % cfg.train.checkpoint_every == 0 or epoch + 1 == cfg.train.epochs:
            run.checkpoint(epoch + 1)

    if cfg.tsne.enabled and cfg.seed in cfg.tsne.seeds:
        from graphs.tsne import tsne_figure  # lazy: matplotlib and sklearn add ~1 s to every start-up

        hidden, labels = task.hidden(model)
        title = f"{cfg.model.name} on {graph_name(cfg.data)}, {cfg.feedback.kind}: hidden activations (t-SNE)"
        tsne_figure(hidden, labels, cfg.tsne, cfg.seed, title, run.out / "tsne.png")
    final = {key: best.metrics[key] for key in task.reported}
    budget = {"epochs": cfg.train.epochs, "selection": cfg.train.select}
    split = "random stratified folds" if cfg.data.split == "random" and cfg.task == "node" else cfg.data.split
    if cfg.task == "link":
        split = f"{1 - cfg.data.val_edges - cfg.data.test_edges:.0%}/{cfg.data.val_edges:.0%}/{cfg.data.test_edges:.0%}"
    source = graph_source(cfg.data, graph, split)
    return run.finish(final, budget=budget, data=source.as_dict(), selected_epoch=best.step)


if __name__ == "__main__":
    cli(main, runs=True)
