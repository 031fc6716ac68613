"""Configuration of the hardware package: the emulated OPU, the fidelity sweep and the cost model.

``OpticalConfig`` is what ``feedback.optical`` holds in any domain's config (the core keeps that field a
free-form mapping so that ``common/`` never imports ``hardware/``; :meth:`OpticalConfig.parse` checks it).

Physical figures and their sources:

* Camera: full well 32,691 e⁻ and temporal dark (read) noise 6.83 e⁻ are the EMVA 1288 figures of the Sony
  IMX174 global-shutter CMOS sensor (quoted at https://fhotolab.fherb.de/2016/09/07/sony-exmor-sensoren-
  dateblattrekonstruktion-imx157/). The OPU's own camera is not public: these are *assumed* typical values.
  8-bit output: LightOn's OPU returns ``uint8`` intensities (https://docs.lighton.ai/notes/opu.html).
* Device: LightOn's OPU reaches 1500 TeraOPS on inputs and outputs of up to 10⁶ (Brossollet et al. 2021,
  arXiv:2107.11814) under 30 W (Wang et al. 2024, arXiv:2409.12965). The frame rate is *derived* from
  these: 1.5·10¹⁵ / (10⁶ × 10⁶) = 1.5 kHz. A DMD alone switches binary patterns far faster (TI DLP7000,
  1024×768 mirrors: over 32,000 binary patterns/s, ti.com/lit/ds/symlink/dlp7000.pdf), so the camera
  read-out, not the mirrors, bounds the rate (our inference).
* Digital side: the power of the CPU cores and of the GPU is *assumed* (not measured here): an AMD EPYC 7763
  has a 280 W TDP for 64 cores (≈ 4.4 W per core, AMD's specification); an H100 SXM has a 700 W TDP
  (NVIDIA's specification).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from common.config import ConfigError, PositiveFloat, PositiveInt, from_dict


@dataclass(frozen=True)
class CameraConfig:
    """The camera that reads the speckle: exposure, noise and analog-to-digital conversion."""

    bits: int = 8
    """ADC resolution (LightOn's OPU: 8-bit). 0: an ideal detector (exact intensities, no saturation)."""
    saturation: float = 10.0
    """Exposure: the intensity at which a pixel saturates, as a multiple of the reference beam's mean
    intensity (the exposure is set once, on the reference alone, like a calibration)."""
    full_well: float = 32_000.0
    """Photo-electrons at saturation: the photon budget that sets shot noise (assumed; IMX174: 32,691 e⁻)."""
    shot_noise: bool = True
    """Draw Poisson photon noise (as a Gaussian of variance = mean electrons, accurate above ~10 e⁻)."""
    read_noise: float = 7.0
    """Read noise in electrons RMS, added to every pixel of every frame (assumed; IMX174: 6.83 e⁻)."""


@dataclass(frozen=True)
class OpticalConfig:
    """The emulated OPU used as a DFA projector (``feedback.optical``)."""

    threshold: float = 0.3
    """Ternarization: component ``e_i`` becomes sign(e_i) if |e_i| ≥ threshold · max_j |e_j| of its own
    error vector, else 0 (see :func:`hardware.optical.ternarize`). In the fidelity sweep, 0.3 keeps the
    ternary code closest to the error for Gaussian errors and near the best for softmax errors (0.4)."""
    reference_ratio: float = 1.0
    """Reference mirrors per error component (at least one): the reference field's strength. Relative to
    quantization, the interference term is strongest when the reference and the signal carry similar
    power; a reference as large as the whole input keeps the frames' intensity, and so the exposure set on
    the reference, valid whatever the number of components that survive ternarization."""
    camera: CameraConfig = field(default_factory=CameraConfig)
    """The detector."""
    cache_mb: float = 512.0
    """Transmission-matrix tiles kept in memory (MiB); tiles beyond it are regenerated from the seed at
    every projection, so projections of any size run in bounded memory."""
    chunk_mb: float = 64.0
    """Working memory of one chunk of frames (MiB): error vectors are processed in chunks of this size.
    The noise is drawn chunk by chunk, so with a noisy camera the draws (not their law) depend on it."""
    compile: bool = False
    """Fuse the per-pixel camera model into one kernel with ``torch.compile`` (a C++ compiler on CPU,
    Triton on GPU; tens of seconds to compile). Faster on large batches; the same noise draws and the same
    counts as the eager path, up to floating-point rounding."""

    @classmethod
    def parse(cls, data: dict[str, Any], prefix: str = "feedback.optical.") -> OpticalConfig:
        """Build from a free-form mapping, naming any bad key (e.g. ``feedback.optical.camera.bitz``)."""
        config = from_dict(cls, data, prefix)
        config.check(prefix)
        return config

    def check(self, prefix: str = "feedback.optical.") -> None:
        """Reject values with no physical meaning, naming the key."""
        cam = self.camera
        problems = {
            "threshold": not 0.0 <= self.threshold <= 1.0,
            "reference_ratio": self.reference_ratio <= 0,
            "camera.bits": not 0 <= cam.bits <= 24,
            "camera.saturation": cam.saturation <= 0,
            "camera.full_well": cam.full_well <= 0,
            "camera.read_noise": cam.read_noise < 0,
            "cache_mb": self.cache_mb < 0,
            "chunk_mb": self.chunk_mb <= 0,
        }
        for key, bad in problems.items():
            if bad:
                value = self
                for part in key.split("."):
                    value = getattr(value, part)
                raise ConfigError(f"'{prefix}{key}' has no meaning with value {value!r}")


@dataclass(frozen=True)
class FidelitySweep:
    """The values of one swept parameter; every other parameter stays at the sweep's base."""

    bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10, 12, 0)
    """Camera bits, without noise (0: ideal detector)."""
    full_well: tuple[float, ...] = (30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0, 32_000.0, 100_000.0)
    """Photo-electrons at saturation with shot noise on (fewer electrons: more shot noise), 8 bits."""
    read_noise: tuple[float, ...] = (0.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0)
    """Read noise (e⁻ RMS) with shot noise off, 8 bits and the default full well."""
    threshold: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
    """Ternarization thresholds (relative to each vector's max |e|), 8 bits, no noise."""


@dataclass(frozen=True)
class FidelityConfig:
    """How faithfully the emulated OPU recovers a linear random projection."""

    seed: int = 0
    """Seeds the transmission matrix, the error vectors and the noise."""
    d_err: PositiveInt = 10
    """Error dimension (10: the MNIST nets' logits)."""
    width: PositiveInt = 1600
    """Output dimension (1,600: both hidden layers of the 784-800-800-10 net, independent layout)."""
    vectors: PositiveInt = 4096
    """Error vectors per measured point."""
    errors: tuple[Literal["gaussian", "softmax"], ...] = ("gaussian", "softmax")
    """Error models: i.i.d. standard normal components, or cross-entropy errors softmax(z) − onehot(y)
    with logits z ~ N(0, logit_std²) and a uniform label (the error DFA projects in a classifier)."""
    logit_std: float = 3.0
    """Spread of the logits of the softmax error model."""
    optical: OpticalConfig = field(
        default_factory=lambda: OpticalConfig(camera=CameraConfig(shot_noise=False, read_noise=0.0))
    )
    """The base setting (8 bits, no noise); each sweep changes one parameter of it."""
    sweep: FidelitySweep = field(default_factory=FidelitySweep)
    """The swept values."""


@dataclass(frozen=True)
class DeviceConfig:
    """An optical processing unit as seen from the host (sources in the module docstring)."""

    name: str = "LightOn OPU (public figures)"
    """How the report names the device."""
    frame_rate: PositiveFloat = 1_500.0
    """Frames per second (derived: 1500 TeraOPS at 10⁶ × 10⁶, Brossollet et al. 2021)."""
    input_mirrors: PositiveInt = 1_000_000
    """Micromirrors available for the input frame (OPU: inputs up to 10⁶)."""
    output_pixels: PositiveInt = 1_000_000
    """Camera pixels read per frame (OPU: outputs up to 10⁶)."""
    power_w: float = 30.0
    """Electrical power of the device while projecting (Wang et al. 2024: under 30 W)."""


@dataclass(frozen=True)
class Workload:
    """The DFA projection of one training step of one domain."""

    name: str
    """Row label in the report."""
    domain: str
    """Domain package the shape comes from."""
    vectors: int
    """Error vectors projected per step (batch × positions, or nodes with a non-zero error)."""
    d_err: int
    """Error dimension."""
    dims: tuple[int, ...]
    """Widths of the feedback points."""
    layout: Literal["shared", "independent"] = "shared"
    """As ``feedback.projector.layout``: one matrix of max(dims) columns, or one per point (sum(dims))."""
    source: str = ""
    """Where the shape comes from."""

    @property
    def width(self) -> int:
        return max(self.dims) if self.layout == "shared" else sum(self.dims)


@dataclass(frozen=True)
class CostConfig:
    """Cost of each domain's DFA projection on the device versus digitally."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    """The optical device."""
    optical: OpticalConfig = field(default_factory=OpticalConfig)
    """The encoding whose frames are counted (reference mirrors)."""
    workloads: tuple[Workload, ...] = ()
    """The training steps to cost (hardware/configs/cost.yaml)."""
    repeats: PositiveInt = 7
    """Timed repetitions of each digital product (the median is reported)."""
    cpu_power_w: float = 8.75
    """Assumed draw of the CPU cores doing the digital product: 2 × the per-core share of a 280 W, 64-core
    AMD EPYC 7763 (not measured)."""
    gpu_power_w: float = 700.0
    """Assumed draw of the GPU doing the digital product: the H100 SXM TDP, an upper bound (not measured)."""
