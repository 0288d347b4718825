"""Experiment configs: one `get_config()` per file, shared settings in `common.py`."""
