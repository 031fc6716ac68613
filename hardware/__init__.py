"""The optical co-processor behind the paper's motivation: an emulated optical processing unit (OPU).

* :mod:`hardware.optical` — :class:`~hardware.optical.OpticalProjector`, the DFA projector of
  ``feedback.kind=optical``: ternarized error, binary micromirror frames, a seeded scattering medium
  (:mod:`hardware.medium`), a camera (:mod:`hardware.camera`) and the interference trick that turns
  intensities back into a linear random projection.
* :mod:`hardware.fidelity` — how close the recovered projection is to the ideal one, versus camera
  bits, noise and the ternarization threshold (``results/hardware/fidelity.json``).
* :mod:`hardware.cost` — a cost model of the device for each domain's training step, beside the
  measured time of the same projection done digitally (``results/hardware/cost.json``).
* :mod:`hardware.report` — the report's hardware section.
"""
