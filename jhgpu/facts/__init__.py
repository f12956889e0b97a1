"""Custom facts, one module per domain as pyinfra's own (pyinfra.facts.<domain>). Query one by
hand, e.g. pyinfra inventory.py fact jhgpu.facts.nvidia.NvidiaGpus
"""
