"""Benchmarks of the feedback core: ``python -m bench.dfa_speed`` times BP, DFA and hook-style DFA side by side."""
