"""common.distributed against one process on the whole batch: two gloo processes on half batches (and on
uneven shards) take the same steps for every feedback kind, with BatchNorm statistics and gradient clipping
over the whole batch. The training scripts under torchrun are tested in tests/<domain>/test_ddp.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor, nn

import hardware.kinds  # noqa: F401  (registers the optical kind)
from common import distributed
from common.feedback import Feedback, FeedbackConfig

KINDS = ("bp", "dfa", "shallow", "optical")
NOISE_FREE = {"camera": {"shot_noise": False, "read_noise": 0.0}}  # the optical camera's noise is per device
STEPS, ROWS, CLIP = 4, 7, 0.05  # 7 rows: shards of 4 and 3; CLIP is below the gradients' norm: it acts
TOLERANCE = 1e-5  # float32 sums in another order, through four Adam steps of lr 1e-2


class Net(nn.Module):
    """Two hidden blocks with feedback points, BatchNorm in the first: x (N, 6) → logits (N, 3)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        # No bias before BatchNorm: its gradient is zero in exact arithmetic, and Adam would turn the rounding
        # noise of that zero into steps of ±lr that differ between any two summation orders.
        self.fc1, self.bn = nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16)
        self.fc2, self.head = nn.Linear(16, 16), nn.Linear(16, 3)
        cfg = FeedbackConfig(kind=kind, optical=NOISE_FREE if kind == "optical" else {})
        self.fb = Feedback(cfg, d_err=3, dims=(16, 16), seed=0)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fb.point(torch.relu(self.bn(self.fc1(x))))
        h = self.fb.point(torch.tanh(self.fc2(h)))
        return self.fb.output(self.head(h))


def train(kind: str) -> tuple[list[Tensor], Tensor, Tensor]:
    """STEPS updates on batches of ROWS rows, each process on its shard: (parameters, BatchNorm running
    statistics, losses). In one process: the whole batch."""
    torch.manual_seed(0)
    net = distributed.sync_batchnorm(Net(kind))
    distributed.broadcast(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    data = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(STEPS):
        x, y = torch.randn(ROWS, 6, generator=data), torch.randint(3, (ROWS,), generator=data)
        xs, ys = distributed.shard(x), distributed.shard(y)
        loss = F.cross_entropy(net(xs), ys) * distributed.shard_weight(len(xs), ROWS)
        opt.zero_grad()
        net.fb.backward(loss)
        losses.append(distributed.average_gradients(net.parameters(), loss))
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
    stats = torch.cat([net.bn.running_mean, net.bn.running_var])
    return [p.detach().clone() for p in net.parameters()], stats, torch.stack(losses)


def _worker(rank: int, store: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    results = {kind: train(kind) for kind in KINDS}
    results["from_main"] = distributed.from_main({"rank": rank})
    results["all_sum"] = distributed.all_sum(rank + 1.5)
    results["sync_type"] = type(distributed.sync_batchnorm(Net("bp")).bn).__name__
    torch.save(results, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """What each of two gloo processes computed (spawned once for all the tests below)."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(folder / "store"), str(folder)), nprocs=2, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.parametrize("kind", KINDS)
def test_two_processes_on_shards_take_the_steps_of_one_on_the_whole_batch(two_processes: list[dict], kind: str) -> None:
    params, stats, losses = train(kind)  # this process alone: no process group, the whole batch
    for rank in range(2):
        p2, s2, l2 = two_processes[rank][kind]
        difference = max((a - b).abs().max().item() for a, b in zip(params, p2, strict=True))
        print(f"{kind}, rank {rank}: largest parameter difference, 2 processes vs 1: {difference:.1e}")
        assert difference < TOLERANCE
        assert torch.allclose(stats, s2, atol=TOLERANCE)  # BatchNorm saw the whole batch's statistics
        assert torch.allclose(losses, l2, atol=1e-6)  # the logged loss is the whole batch's mean
    first = [p.detach() for p in Net(kind).parameters()]
    moved = max((a - b).abs().max().item() for a, b in zip(first, params, strict=True))
    assert moved > 100 * TOLERANCE  # the comparison is not between two untrained networks


def test_the_ranks_agree_and_collectives_combine(two_processes: list[dict]) -> None:
    assert [r["from_main"] for r in two_processes] == [{"rank": 0}, {"rank": 0}]
    assert [r["all_sum"] for r in two_processes] == [4.0, 4.0]
    assert two_processes[0]["sync_type"] == "SyncBatchNorm"


def test_a_single_process_is_left_alone() -> None:
    x = torch.arange(6.0)
    assert distributed.shard(x) is x and distributed.shard_weight(3, 3) == 1.0
    net = Net("bp")
    assert distributed.sync_batchnorm(net) is net and type(net.bn) is nn.BatchNorm1d
    assert distributed.world() == distributed.World(0, 1, 0)
    state = torch.get_rng_state()
    distributed.reseed(0, 5)
    assert torch.equal(torch.get_rng_state(), state)


def test_uneven_shards_are_weighted_by_their_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert distributed.shard(torch.arange(7)).tolist() == [4, 5, 6]
    assert distributed.shard_weight(3, 7) == pytest.approx(6 / 7)
