"""Configuration of the NeRF domain (Table 1): scene, network, ray sampling, training and evaluation.

Defaults follow the authors' DFA code (lightonai/dfa-scales-to-modern-deep-learning, itself built on
krrish94/nerf-pytorch) where it is explicit, and the original NeRF release (bmild/nerf) elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import hardware.kinds  # noqa: F401  (registers feedback.kind=optical and dfa_ternary)
from common.config import LearningRate, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class DataConfig:
    """Which scene is read, and how."""

    format: Literal["blender", "npz", "llff"] = "blender"
    """``blender``: transforms_{train,val,test}.json + RGBA PNGs (NeRF-Synthetic); ``npz``: the tiny-NeRF
    layout (images, poses, focal[, split]); ``llff``: poses_bounds.npy + images/ (LLFF-Real)."""
    root: str = "data/nerf/lego_200"
    """The scene folder (blender, llff) or the .npz file; relative to the repository unless absolute."""
    downscale: PositiveInt = 1
    """Integer factor of area averaging applied to the images at load time (the focal length follows)."""
    near: float = 2.0
    """Near bound of the rays (blender, npz: the NeRF-Synthetic value). LLFF takes its bounds from the file."""
    far: float = 6.0
    """Far bound of the rays (blender, npz). LLFF takes its bounds from the file."""
    white_background: bool = True
    """Composite RGBA images on white and render on white (blender). The npz images are already on black."""
    train_views: NonNegativeInt = 0
    """Train on the first N training views only (0: all); for smoke runs."""
    llff_hold: PositiveInt = 8
    """LLFF: every N-th image (0, N, 2N, ...) is a test view, the rest train (the NeRF convention)."""
    llff_factor: PositiveInt = 8
    """LLFF: read ``images_<factor>/`` if present, else ``images/`` area-downscaled by this factor."""
    ndc: bool = False
    """Shoot rays in normalized device coordinates (forward-facing LLFF scenes; near plane at 1)."""


@dataclass(frozen=True)
class ModelConfig:
    """The NeRF MLP (same shape for the coarse and the fine network)."""

    depth: PositiveInt = 8
    """Hidden layers of the position trunk, each Linear → ReLU → feedback point."""
    width: PositiveInt = 256
    """Width of the trunk; the view-dependent layer has width // 2."""
    skips: tuple[int, ...] = (4,)
    """Trunk layers after which the encoded position is concatenated again (0-based; NeRF: after the 5th)."""
    xyz_freqs: NonNegativeInt = 10
    """Positional-encoding frequencies of the position (L = 10: 3 + 6·10 = 63 inputs)."""
    dir_freqs: NonNegativeInt = 4
    """Positional-encoding frequencies of the viewing direction (L = 4: 3 + 6·4 = 27 inputs)."""
    feature_relu: bool = True
    """ReLU (and a feedback point) after the feature layer that feeds the view branch, as in the authors'
    DFA model; the original NeRF code leaves that layer linear."""


@dataclass(frozen=True)
class SamplingConfig:
    """Samples along each ray and how the renderer treats them."""

    coarse: PositiveInt = 64
    """Stratified samples per ray for the coarse network."""
    fine: NonNegativeInt = 128
    """Importance samples per ray added for the fine network (0: no fine network)."""
    perturb: bool = True
    """Jitter the stratified samples during training (evaluation is always deterministic)."""
    lindisp: bool = False
    """Space the stratified samples linearly in disparity rather than depth."""
    raw_noise_std: NonNegativeFloat = 0.0
    """Gaussian noise added to the raw density during training (the NeRF release uses 1.0 for LLFF)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (Adam on the coarse and fine networks together)."""

    iters: PositiveInt = 500_000
    """Training steps (the authors' configs: 500k)."""
    rays: PositiveInt = 1024
    """Rays per step."""
    batching: Literal["all", "image"] = "all"
    """``all``: each ray from a random training view; ``image``: all rays of a step from one random view
    (the authors' loop)."""
    lr: LearningRate = 5e-4
    """Adam learning rate (NeRF's 5e-4 for BP; the authors use 1e-4 for DFA, set per method in the YAML)."""
    lr_decay_steps: PositiveInt = 500_000
    """The learning rate is lr × lr_decay_rate^(step / lr_decay_steps) (the authors: 500 × 1000 steps)."""
    lr_decay_rate: PositiveFloat = 0.1
    precrop_iters: NonNegativeInt = 0
    """Sample only the central crop of each view during the first N steps (0: never). A small object in a large
    frame (most Blender scenes) needs it: early steps that see mostly background can kill every ReLU, and the
    network then renders the background everywhere (nerf.health warns). NeRF's own setting is 500 steps at 0.5."""
    precrop_frac: float = 0.5
    """Side of that crop, as a fraction of the image side."""
    amp: Literal["none", "bf16"] = "none"
    """``bf16``: run the networks under bfloat16 autocast (GPU speed; the renderer stays in float32); ``none``
    (spelled as in nlp)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when available."""
    log_every: PositiveInt = 100
    """Log training loss, PSNR and iterations/s every N steps."""
    checkpoint_every: PositiveInt = 1000
    """Save a resumable checkpoint every N steps (and at the end, and before --stop-after leaves)."""
    max_minutes: NonNegativeFloat = 0.0
    """Stop training after this much training time, then evaluate (0: off). For time-budget targets
    only: the number of steps then depends on the machine, so final.json is no longer seed-determined."""


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation and the pictures a run saves."""

    test_stride: PositiveInt = 1
    """Evaluate every N-th test view (1: all of them, as the NeRF paper)."""
    every: NonNegativeInt = 0
    """Render ``monitor_views`` test views every N steps for the learning curve (0: only at the end)."""
    monitor_views: PositiveInt = 1
    """Test views of the learning curve (``monitor/psnr`` in metrics.jsonl)."""
    chunk: PositiveInt = 16384
    """Rays per forward pass when rendering whole images."""
    render_views: NonNegativeInt = 4
    """Save PNG renders, ground truth and depth maps of the first N evaluated test views."""
    turntable_frames: NonNegativeInt = 40
    """Frames of the turntable GIF of novel views (0: none)."""
    turntable_downscale: PositiveInt = 1
    """Render the turntable at 1/N of the image resolution."""


@dataclass(frozen=True)
class NerfConfig:
    """One NeRF run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
