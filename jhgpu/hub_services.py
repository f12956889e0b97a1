"""The services the Hub runs beside its users' servers, with the roles they need: the idle culler,
the admins' GPU page (files/gpu_usage_service.py) and the token a site's Prometheus scrapes with.
Decisions only: settings in, service and role definitions for jupyterhub_config.py out."""

from __future__ import annotations

from jhgpu.gpu_usage import USAGE_FOLDER as GPU_USAGE_FOLDER

GPU_PAGE_PORT = 10101


def idle_culler(data) -> tuple[list[dict], list[dict]]:
    """The idle culler as a Hub service, with the role it needs; nothing when disabled."""
    if not data.idle_cull_timeout:
        return [], []
    service = {"name": "idle-culler",
               "command": ["python3", "-m", "jupyterhub_idle_culler", f"--timeout={data.idle_cull_timeout}"]}
    role = {"name": "idle-culler", "services": ["idle-culler"],
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}
    return [service], [role]


def gpu_usage_dir(data) -> str:
    """Where every GPU node's sampler keeps its usage file (tasks/gpu_usage.py): in
    users_home_root, which the Hub sees at the same path and, in a Swarm, every node shares."""
    return f"{data.users_home_root.rstrip('/')}/{GPU_USAGE_FOLDER}"


def watches_gpus(data, swarm=None) -> bool:
    """The admins' GPU page and idle GPUs reclaimed, where the Hub has GPUs to watch: its own
    server's, or (`swarm`: swarm_hub_context's arguments) any node's."""
    return bool(data.gpu_enabled or (swarm or {}).get("units"))


def gpu_page(data, swarm=None) -> list[dict]:
    """The admins' GPU page as a Hub service at /services/gpu-usage/ (files/gpu_usage_service.py)."""
    if not watches_gpus(data, swarm):
        return []
    return [{"name": "gpu-usage", "url": f"http://127.0.0.1:{GPU_PAGE_PORT}", "display": True, "oauth_no_confirm": True,
             "command": ["python3", "/opt/jupytergpu/gpu_usage_service.py"],
             "environment": {"JUPYTERGPU_USAGE_DIR": gpu_usage_dir(data), "JUPYTERGPU_SWARM": "1" if swarm else "0"}}]


PROMETHEUS_TOKEN_FILE = "prometheus-token"  # in the Hub's data folder


def prometheus_access(data, data_dir_in_hub: str, swarm=None) -> dict | None:
    """The `prometheus` service, whose token (prometheus_token_file) reads the Hub's /hub/metrics
    and the GPU page's metrics; None when prometheus_token_file is unset."""
    if not data.prometheus_token_file:
        return None
    scopes = ["read:metrics", *(["access:services!service=gpu-usage"] if watches_gpus(data, swarm) else [])]
    return {"token_file": f"{data_dir_in_hub}/{PROMETHEUS_TOKEN_FILE}",
            "role": {"name": "prometheus", "services": ["prometheus"], "scopes": scopes}}
