"""Experiment configs: one `get_config(arg)` per family, variants through `arg`.

Shared settings are in `common.py`; the runs of RESULTS.md, each a config
string, in `results.py`.
"""
