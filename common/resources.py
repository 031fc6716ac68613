"""What a job asks of the machine or of a cluster's scheduler, from config/config.yaml: one derivation, read by
the workflow's rules (workflow/rules/common.smk) and by the dress rehearsal (common.rehearse)."""

from __future__ import annotations

from typing import Any

RESOURCE_KEYS = {"runtime": 1, "mem_mb": 1, "gpus": 0}
"""key -> its smallest valid value: runtime in minutes and mem_mb per job, gpus per run."""
TORCHRUN_DOMAINS = ("nlp", "nerf", "recsys")
"""Domains whose train.py runs data-parallel under torchrun (DDP): the only ones a run may give several GPUs."""


def job_resources(config: dict[str, Any], profile: str, domain: str | None = None, kind: str = "train") -> dict:
    """config.yaml's ``resources``, overridden by the profile's section of ``domain`` (None: the workflow's own
    jobs, e.g. the report): its ``resources`` for training runs (kind "train"), its ``prepare_resources`` for
    data preparation (kind "prepare", never on a GPU). A bad entry raises ValueError naming its key."""
    merged = dict(config.get("resources") or {})
    key = "resources" if kind == "train" else "prepare_resources"
    section = (config["profiles"][profile].get(domain) or {}) if domain else {}
    merged.update(section.get(key) or {})
    where = f"profiles.{profile}.{domain}.{key}" if domain else "resources"
    for name, value in merged.items():
        if name not in RESOURCE_KEYS:
            raise ValueError(f"config/config.yaml, {where}: unknown key '{name}' (known: {', '.join(RESOURCE_KEYS)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < RESOURCE_KEYS[name]:
            low = RESOURCE_KEYS[name]
            raise ValueError(f"config/config.yaml, {where}.{name}: expected an integer >= {low}, got {value!r}")
    if missing := set(RESOURCE_KEYS) - set(merged):
        raise ValueError(f"config/config.yaml: `resources` must set {', '.join(sorted(missing))}")
    if kind != "train":
        merged["gpus"] = 0
    elif merged["gpus"] > 1 and domain not in TORCHRUN_DOMAINS:
        raise ValueError(
            f"config/config.yaml, {where}.gpus: {merged['gpus']} GPUs per run needs torchrun, which "
            f"{', '.join(TORCHRUN_DOMAINS)} support; {domain} runs on one device"
        )
    return merged
