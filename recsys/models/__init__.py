"""CTR models of the paper's Table 2, one file each, and their registry.

Every model is built as ``MODELS[name](cfg: ModelConfig, field_dims, dropout, feedback: FeedbackConfig, seed)``
and maps ids x (B, F) long to the pre-sigmoid logit (B,), which is also where DFA reads its error.
"""

from __future__ import annotations

from torch import nn

from common.feedback import FeedbackConfig
from recsys.config import ModelConfig
from recsys.models.afn import AFN
from recsys.models.dcn import DeepCross
from recsys.models.deepfm import DeepFM
from recsys.models.fm import FM

MODELS: dict[str, type[nn.Module]] = {"fm": FM, "deepfm": DeepFM, "dcn": DeepCross, "afn": AFN}


def build_model(
    cfg: ModelConfig, field_dims: tuple[int, ...], dropout: float, feedback: FeedbackConfig, seed: int = 0
) -> nn.Module:
    """The model ``cfg.name`` for a dataset with these vocabulary sizes."""
    return MODELS[cfg.name](cfg, field_dims, dropout, feedback, seed)
