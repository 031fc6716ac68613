"""Recommender systems: CTR models (FM, DeepFM, Deep&Cross, AFN) on Criteo-format data (the paper's Table 2)."""
