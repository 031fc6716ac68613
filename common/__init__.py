"""Shared parts of every domain: the feedback core, configs, seeding, runs, claims and the report."""
