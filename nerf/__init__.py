"""NeRF (Mildenhall et al., ECCV 2020) trained with backpropagation, DFA or the shallow baseline: Table 1."""
