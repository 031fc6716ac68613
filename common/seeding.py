"""Seeding: one call makes a CPU run repeatable bit for bit."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    ``threads`` fixes torch's intra-op thread count (a run's numbers may depend on it through the
    order of floating-point reductions, so the pipeline always passes it).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)


def rng_state() -> dict:
    """Every global random state, for a checkpoint (tensors and plain Python values only, so that the
    checkpoint loads with ``torch.load(weights_only=True)``)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (name, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss)  # plain types: weights_only
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(state["python"])
    name, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
