"""Custom operations, one module per domain as pyinfra's own (pyinfra.operations.<domain>).
Decisions they act on are in the pure modules beside this package (jhgpu/hub.py, swarm.py, ...)."""
