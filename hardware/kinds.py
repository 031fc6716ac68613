"""The feedback kinds of the hardware package, registered in :mod:`common.kinds` when this module is imported.

* ``optical`` — DFA with its projection done by the emulated OPU (:mod:`hardware.optical`): ternarized
  error, binary frames, scattering medium, camera noise and quantization, interference read-out.
* ``dfa_ternary`` — DFA with the OPU's ternarized error but the digital projection of ``dfa``: the same
  threshold rule (``feedback.optical.threshold``) and least-squares scale ``α`` (:func:`~hardware.optical.ternarize`),
  then ``α t @ B`` with the very ``B`` that ``dfa`` draws for the same seeds. Beside ``dfa`` and ``optical`` it
  separates what quantizing the error costs from what the device's noise and matrix cost.

Every domain offers these kinds: its config module imports this one, so they are registered wherever the
domain's configs are loaded (its ``train``, the workflow, tests). ``common`` never imports ``hardware``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from common.kinds import Kind, register
from common.projectors import ProjectorConfig, RandomProjector
from hardware.config import OpticalConfig
from hardware.optical import OpticalProjector, ternarize

if TYPE_CHECKING:
    from common.feedback import FeedbackConfig


class TernaryProjector(RandomProjector):
    """``forward(e: (N, d_err)) -> (N, width)`` = ``α t @ B``: the digital ``B`` applied to the ternarized error."""

    def __init__(self, d_err: int, dims: tuple[int, ...], cfg: ProjectorConfig, seed: int, threshold: float) -> None:
        super().__init__(d_err, dims, cfg, seed)
        self.threshold = threshold

    @classmethod
    def from_config(cls, cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...], seed: int) -> TernaryProjector:
        """The projector of ``feedback.kind=dfa_ternary``: ``B`` as for dfa, the threshold of ``feedback.optical``."""
        return cls(d_err, dims, cfg.projector, seed, OpticalConfig.parse(cfg.optical).threshold)

    def forward(self, e: Tensor) -> Tensor:  # (N, d_err) -> (N, width)
        t, alpha = ternarize(e.float(), self.threshold)  # in float32, as the emulator does
        return super().forward((alpha * t).to(e.dtype))

    def extra_repr(self) -> str:
        return f"d_err={self.d_err}, width={self.width}, threshold={self.threshold}"


register(Kind("optical", "direct", "DFA projected by the emulated OPU", OpticalProjector.from_config))
register(Kind("dfa_ternary", "direct", "DFA of the ternarized error, digital projection", TernaryProjector.from_config))
