"""How busy the GPUs are and when idle GPUs come back (jhgpu/gpu_usage.py, which the GPU server's
sampler and the Hub run too), and how the deploy sets it up. The sampler, the admins' page and the
reclaiming run on a test-bed host with stand-in GPUs whose utilisation the test sets
(tests/test_e2e_gpus.py)."""

import json

import pytest

from jhgpu import gpu_usage
from jhgpu.gpu_usage import (BUSY, IDLE, STOP, WARN, advance, idle_verdict, node_name, parse_query, read_usage, read_usages,
                             sparkline)
from test_hub import files, hub_config, reading

A, B = "GPU-0a0a0a0a-0000-4000-8000-000000000000", "GPU-1b1b1b1b-1111-4111-8111-111111111111"
# `nvidia-smi --query-gpu=uuid,name,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`,
# shaped like the H200 of tests/fixtures/nvidia (values constructed); a GPU in MIG mode reads [N/A].
QUERY_OUTPUT = [f"{A}, NVIDIA H200, 0, 512, 143771", f"{B}, NVIDIA H200, [N/A], 1024, 143771", "garbage line"]


def test_nvidia_smis_lines_become_samples():
    assert parse_query(QUERY_OUTPUT) == {
        A: {"name": "NVIDIA H200", "utilization": 0, "memory_used": 512, "memory_total": 143771},
        B: {"name": "NVIDIA H200", "utilization": None, "memory_used": 1024, "memory_total": 143771}}


def sample(util_a, util_b=50):
    return {A: {"name": "H200", "utilization": util_a, "memory_used": 0, "memory_total": 1},
            B: {"name": "H200", "utilization": util_b, "memory_used": 0, "memory_total": 1}}


def test_a_gpu_is_idle_since_its_first_zero_reading_and_busy_again_at_once():
    state = advance({}, sample(0), 100.0)
    state = advance(state, sample(0), 110.0)
    assert state["gpus"][A]["idle_since"] == 100.0 and state["gpus"][B]["idle_since"] is None
    assert advance(state, sample(3), 120.0)["gpus"][A]["idle_since"] is None
    assert advance(advance(state, sample(3), 120.0), sample(0), 130.0)["gpus"][A]["idle_since"] == 130.0
    # unknown utilisation (MIG) never counts as idle
    assert advance({}, sample(None), 100.0)["gpus"][A]["idle_since"] is None


def test_an_hour_of_history_is_kept():
    state = {}
    for minute in range(90):
        state = advance(state, sample(minute % 100), minute * 60.0)
    history = state["gpus"][A]["history"]
    assert history[0][0] > 89 * 60 - 3600 and history[-1] == [89 * 60.0, 89] and len(history) == 60


def test_a_usage_file_that_is_missing_broken_or_stale_is_no_usage():
    state = advance({}, sample(0), 1000.0)
    assert read_usage(json.dumps(state), 1010.0)[A]["idle_since"] == 1000.0
    assert read_usage(json.dumps(state), 1000.0 + gpu_usage.STALE_SECONDS + 1) == {}
    assert read_usage(None, 0) == {} and read_usage("{half", 0) == {}


def test_every_nodes_file_is_read_each_gpu_named_with_its_node():
    gpu01, gpu02 = advance({}, {A: sample(0)[A]}, 1000.0), advance({}, {B: sample(0)[B]}, 1000.0)
    usage = read_usages({"gpu02": json.dumps(gpu02), "gpu01": json.dumps(gpu01), "gpu03": "{broken"}, 1010.0)
    assert {uuid: gpu["node"] for uuid, gpu in usage.items()} == {A: "gpu01", B: "gpu02"}
    assert node_name("gpu01.lab.example") == "gpu01.lab.example" and node_name("@docker/x y") == "-docker-x-y"


USAGE = {A: {"idle_since": 1000.0}, B: {"idle_since": None}}


@pytest.mark.parametrize("held, now, warned_at, verdict", [
    ([A], 1000.0 + 3599, None, IDLE),  # idle, not for the timeout yet
    ([A], 1000.0 + 3600, None, WARN),  # idle for the timeout: tell the user
    ([A], 1000.0 + 4000, 4600.0, IDLE),  # warned, within the grace period
    ([A], 4600.0 + 1800, 4600.0, STOP),  # warned a grace period ago, still idle
    ([A], 1000.0 + 9999, 500.0, WARN),  # a warning from before this idle spell does not count
    ([A, B], 1000.0 + 9999, None, BUSY),  # one of its GPUs is busy
    ([], 9999.0, None, BUSY),  # holds no GPU
    (["GPU-unknown"], 9999.0, None, BUSY),  # no usage known: never reclaimed on missing data
])
def test_idle_verdicts(held, now, warned_at, verdict):
    assert idle_verdict(held, USAGE, now, 3600, 1800, warned_at)[0] == verdict
    assert idle_verdict(held, USAGE, now, None, 1800, warned_at)[0] == BUSY  # gpu_idle_timeout None: never


def test_the_sparkline_draws_the_last_hour():
    line = sparkline([[0, 0], [1800, 100], [3600, None], [3600, 50]])
    assert line.startswith("<svg") and 'points="0.0,24.0 60.0,0.0 120.0,12.0"' in line
    assert sparkline([[0, 10]]) == ""


def test_a_gpu_server_gets_the_admins_gpu_page_and_the_idle_settings():
    config = hub_config(gpu_idle_timeout=7200, gpu_idle_grace=600, gpu_idle_exempt_groups=["training"],
                        gpu_idle_exempt_admins=True)
    page = next(service for service in config.JupyterHub.services if service["name"] == "gpu-usage")
    assert page["url"] == "http://127.0.0.1:10101" and page["command"][-1] == "/opt/jupytergpu/gpu_usage_service.py"
    assert "roles" not in page  # admins reach it through their access:services scope, users not at all
    spawner = config.GpuDockerSpawner
    assert (spawner.gpu_idle_timeout, spawner.gpu_idle_grace, spawner.gpu_idle_exempt_groups) == (7200, 600, ["training"])
    assert spawner.gpu_idle_exempt_admins is True
    assert spawner.gpu_usage_dir == page["environment"]["JUPYTERGPU_USAGE_DIR"] == "/home/jh_users/.jupytergpu-gpu-usage"
    assert "announcement_home" in config.JupyterHub.template_vars
    cpu_only = hub_config(gpu_enabled=False)
    assert [service["name"] for service in cpu_only.JupyterHub.services] == ["idle-culler"]


def test_the_deploy_runs_the_sampler_on_a_gpu_server_only():
    from recorded import run_deploy
    from recorded_hosts import fresh_host

    gpu = run_deploy(fresh_host("ubuntu", "24.04"))
    assert "PUT /usr/local/lib/jupytergpu/gpu_usage_sampler.py" in gpu and "PUT /usr/local/lib/jupytergpu/gpu_usage.py" in gpu
    assert "PUT /etc/systemd/system/jupyterhub-gpu-usage.service" in gpu
    assert any("mkdir -p /home/jh_users/.jupytergpu-gpu-usage" in command for command in gpu)
    assert any("systemctl start jupyterhub-gpu-usage.service" in command for command in gpu)
    cpu_only = run_deploy(fresh_host("ubuntu", "24.04"), gpu_enabled=False)
    assert not any("/usr/local/lib/jupytergpu" in command or "jupyterhub-gpu-usage" in command for command in cpu_only)


def test_prometheus_metrics_carry_each_gpus_holder():
    usage = advance(advance({}, sample(0), 100.0), sample(0), 160.0)["gpus"]
    usage = {uuid: {**gpu, "node": "gpu01"} for uuid, gpu in usage.items()}
    text = gpu_usage.prometheus_text(usage, {A: ["ann"], B: ['b"en']}, 160.0)
    assert "# TYPE jupytergpu_gpu_utilization_percent gauge" in text
    assert f'jupytergpu_gpu_utilization_percent{{node="gpu01",uuid="{A}",name="H200",holder="ann"}} 0' in text
    assert f'jupytergpu_gpu_utilization_percent{{node="gpu01",uuid="{B}",name="H200",holder="b\\"en"}} 50' in text
    assert f'jupytergpu_gpu_idle_seconds{{node="gpu01",uuid="{A}",name="H200",holder="ann"}} 60' in text
    assert f'jupytergpu_gpu_idle_seconds{{node="gpu01",uuid="{B}"' not in text  # busy: no idle time
    assert text.endswith("\n")


def test_a_prometheus_token_reads_the_hubs_and_the_gpus_metrics_and_nothing_else(tmp_path):
    token = tmp_path / "prometheus-token"
    token.write_text("a-long-random-token\n")
    fake_open = reading("a-long-random-token\n")
    config = hub_config(prometheus_token_file=str(token), _open=fake_open)
    assert {"name": "prometheus", "api_token": "a-long-random-token"} in config.JupyterHub.services
    role = next(role for role in config.JupyterHub.load_roles if role["name"] == "prometheus")
    assert role == {"name": "prometheus", "services": ["prometheus"],
                    "scopes": ["read:metrics", "access:services!service=gpu-usage"]}
    assert fake_open.opened == ["/srv/jupyterhub/data/prometheus-token"]
    assert "a-long-random-token" not in files(prometheus_token_file=str(token))["jupyterhub_config.py"]
    cpu_only = hub_config(prometheus_token_file=str(token), gpu_enabled=False, _open=fake_open)
    assert next(role for role in cpu_only.JupyterHub.load_roles if role["name"] == "prometheus")["scopes"] == ["read:metrics"]
    assert "prometheus" not in str(hub_config().JupyterHub.services)


def test_on_a_swarm_the_page_and_reclaiming_cover_every_nodes_gpus():
    from types import SimpleNamespace

    from jhgpu.hub import hub_files
    from recorded import default_settings

    units = [{"uuid": A, "name": "gpu02 GPU 0: NVIDIA H200"}]  # a CPU-only Hub's server, a GPU worker
    data = SimpleNamespace(**{**default_settings(), "gpu_enabled": False, "gpu_idle_timeout": 3600})
    rendered = hub_files(data, swarm={"registry": "10.0.0.1:5000", "units": units}).files["jupyterhub_config.py"]
    assert "c.GpuSwarmSpawner.gpu_idle_timeout = 3600" in rendered
    assert "c.GpuSwarmSpawner.gpu_usage_dir = '/home/jh_users/.jupytergpu-gpu-usage'" in rendered
    assert "'JUPYTERGPU_SWARM': '1'" in rendered
    assert "gpu-usage" not in hub_files(data, swarm={"registry": "10.0.0.1:5000", "units": []}).files["jupyterhub_config.py"]


def test_a_gpu_in_mig_mode_names_the_holders_of_its_instances():
    from pathlib import Path

    listing = (Path(__file__).parent / "fixtures" / "nvidia" / "nvidia-smi-2x-a100-mig.txt").read_text().splitlines()
    instances = gpu_usage.parse_listing(listing)
    [first, *_] = instances
    assert [instance["profile"] for instance in instances[first]][:2] == ["1g.10gb", "1g.10gb"]
    mig_uuid = instances[first][1]["uuid"]
    state = advance({}, {first: {"name": "A100", "utilization": None, "memory_used": 1, "memory_total": 2}}, 0.0,
                    instances)
    state = advance(state, {first: {"name": "A100", "utilization": None, "memory_used": 1, "memory_total": 2}}, 10.0)
    gpu = state["gpus"][first]  # instances kept between listings
    assert gpu_usage.gpu_holders(gpu, first, {mig_uuid: ["ann"]}) == ["ann (MIG 1g.10gb)"]
    # never reclaimed on the GPU's behalf: its instances' utilisation is unknown
    assert idle_verdict([mig_uuid], {first: gpu}, 9999.0, 60, 0, None)[0] == BUSY
