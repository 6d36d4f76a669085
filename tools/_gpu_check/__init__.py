"""The parts of ``tools/gpu_check.py``: one module per part, shared helpers and the report."""
