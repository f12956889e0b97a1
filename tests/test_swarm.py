"""Several GPU servers as one Swarm (jhgpu/swarm.py): roles from the inventory's groups, Swarm
membership from each host's `docker info`, and what each node advertises.

The `docker info` Swarm sections below are constructed in the shape Docker 26 prints (field
names from `docker info --format '{{json .Swarm}}'`), not captured from a lab's servers."""

import json
import re

import pytest

from jhgpu.swarm import (MANAGER, SINGLE, WORKER, SwarmError, daemon_json_for_swarm, generic_resources, in_registry,
                         membership, role_of, toolkit_config_with_swarm_resource, version_problems)

GROUPS = {"hub_server": ["gpu01"], "gpu_workers": ["gpu02", "gpu03"]}
INACTIVE = {"LocalNodeState": "inactive", "NodeID": "", "RemoteManagers": None}
MANAGER_INFO = {"LocalNodeState": "active", "ControlAvailable": True, "NodeAddr": "10.0.0.1",
                "RemoteManagers": [{"NodeID": "m1", "Addr": "10.0.0.1:2377"}]}
WORKER_INFO = {"LocalNodeState": "active", "ControlAvailable": False, "NodeAddr": "10.0.0.2",
               "RemoteManagers": [{"NodeID": "m1", "Addr": "10.0.0.1:2377"}]}
OTHER_SWARM = {"LocalNodeState": "active", "ControlAvailable": False, "NodeAddr": "10.0.0.2",
               "RemoteManagers": [{"NodeID": "x9", "Addr": "192.168.7.7:2377"}]}


def test_roles_come_from_the_inventory_groups():
    assert [role_of(name, GROUPS) for name in ("gpu01", "gpu02", "gpu03")] == [MANAGER, WORKER, WORKER]
    assert role_of("gpu09", GROUPS) == SINGLE  # in neither group: a server of its own


def test_without_workers_the_hub_server_stays_a_single_server():
    assert role_of("gpu01", {"hub_server": ["gpu01"]}) == SINGLE
    assert role_of("gpu01", {}) == SINGLE


@pytest.mark.parametrize("groups, message", [
    ({"gpu_workers": ["gpu02"]}, "needs exactly one host in hub_server, the server that runs the Hub; found none"),
    ({"hub_server": ["gpu01", "gpu04"], "gpu_workers": ["gpu02"]}, "found gpu01, gpu04"),
    ({"hub_server": ["gpu02"], "gpu_workers": ["gpu02"]}, "host 'gpu02' is in both hub_server and gpu_workers"),
])
def test_impossible_groups_are_refused_naming_the_hosts(groups, message):
    with pytest.raises(SwarmError, match=message):
        role_of("gpu02", groups)


def test_the_manager_initialises_and_the_workers_join_once():
    assert membership("gpu01", MANAGER, INACTIVE, "10.0.0.1") == "init"
    assert membership("gpu02", WORKER, INACTIVE, "10.0.0.1") == "join"
    assert membership("gpu01", MANAGER, MANAGER_INFO, "10.0.0.1") is None
    assert membership("gpu02", WORKER, WORKER_INFO, "10.0.0.1") is None
    assert membership("gpu09", SINGLE, INACTIVE, "10.0.0.1") is None


@pytest.mark.parametrize("role, info", [(WORKER, OTHER_SWARM), (MANAGER, OTHER_SWARM), (WORKER, MANAGER_INFO),
                                        (MANAGER, {**MANAGER_INFO, "RemoteManagers": [{"Addr": "10.9.9.9:2377"}]})])
def test_a_host_in_another_swarm_is_refused_not_moved(role, info):
    with pytest.raises(SwarmError, match="host 'gpu02' already belongs to another Swarm"):
        membership("gpu02", role, info, "10.0.0.1")


def test_a_host_stuck_between_states_is_named():
    with pytest.raises(SwarmError, match="Swarm state 'pending'"):
        membership("gpu02", WORKER, {"LocalNodeState": "pending"}, "10.0.0.1")


def test_each_gpu_is_advertised_by_uuid_and_daemon_json_keeps_its_other_keys():
    units = [{"uuid": "GPU-aaa", "name": "GPU 0"}, {"uuid": "MIG-bbb", "name": "GPU 1 MIG 1g.10gb"}]
    assert generic_resources(units) == ["gpu=GPU-aaa", "gpu=MIG-bbb"]
    current = json.dumps({"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}, "log-driver": "journald"})
    merged = json.loads(daemon_json_for_swarm(current, generic_resources(units), "10.0.0.1:5000"))
    assert merged["node-generic-resources"] == ["gpu=GPU-aaa", "gpu=MIG-bbb"]
    assert merged["default-runtime"] == "nvidia"  # a service cannot ask for a runtime
    assert merged["insecure-registries"] == ["10.0.0.1:5000"]
    assert merged["log-driver"] == "journald" and "nvidia" in merged["runtimes"]
    again = daemon_json_for_swarm(json.dumps(merged), list(reversed(generic_resources(units))), "10.0.0.1:5000")
    assert again is None  # converged: no Docker restart


def test_a_node_without_gpus_still_trusts_the_swarms_registry():
    merged = json.loads(daemon_json_for_swarm(json.dumps({"insecure-registries": ["lab:5000"]}), [], "10.0.0.1:5000"))
    assert merged == {"insecure-registries": ["lab:5000", "10.0.0.1:5000"]}


def test_an_image_is_in_the_registry_once_pushed_and_not_after_a_rebuild():
    pushed = {"id": "sha256:1", "digests": ["10.0.0.1:5000/jupytergpu/base-notebook@sha256:abc"]}
    assert in_registry(pushed, "10.0.0.1:5000", "jupytergpu/base-notebook:latest")
    assert not in_registry({"id": "sha256:2", "digests": []}, "10.0.0.1:5000", "jupytergpu/base-notebook:latest")
    assert not in_registry(pushed, "10.0.0.9:5000", "jupytergpu/base-notebook:latest")
    assert not in_registry(None, "10.0.0.1:5000", "jupytergpu/base-notebook:latest")


def test_the_nvidia_runtime_is_told_to_read_swarms_assignment():
    packaged = ('#accept-nvidia-visible-devices-as-volume-mounts = false\n#swarm-resource = "DOCKER_RESOURCE_GPU"\n\n'
                '[nvidia-container-cli]\nldconfig = "@/sbin/ldconfig"\n')
    changed = toolkit_config_with_swarm_resource(packaged)
    lines = changed.splitlines()
    assert 'swarm-resource = "DOCKER_RESOURCE_GPU"' in lines
    assert lines.index('swarm-resource = "DOCKER_RESOURCE_GPU"') < lines.index("[nvidia-container-cli]")  # top level
    assert "#swarm-resource" not in changed and 'ldconfig = "@/sbin/ldconfig"' in lines
    assert toolkit_config_with_swarm_resource(changed) is None


@pytest.mark.parametrize("engine, toolkit, problem", [
    ("20.10.24+dfsg1-1+deb12u1", "1.20.0-1", "Docker engine 20.10.24+dfsg1-1+deb12u1 is too old for GPUs in a Swarm"),
    ("25.0.2", "1.20.0-1", "from 25.0.3 on"),
    ("26.1.5+dfsg1-9+b9", "1.18.0-1", "NVIDIA Container Toolkit 1.18.0-1 ignores Swarm's GPU assignment"),
    (None, "1.20.0-1", "cannot tell which Docker engine"),
])
def test_engines_and_toolkits_too_old_for_gpu_swarm_are_named(engine, toolkit, problem):
    assert any(problem in found for found in version_problems(engine, toolkit, gpu_enabled=True))


def test_new_enough_engines_and_toolkits_pass():
    assert version_problems("25.0.3", "1.19.0-1", gpu_enabled=True) == []
    assert version_problems("5:28.1.1-1~ubuntu.24.04~noble", "1.20.0-1", gpu_enabled=True) == []  # docker-ce
    assert version_problems("26.1.5+dfsg1-9+b9", None, gpu_enabled=False) == []


def test_the_hub_of_a_swarm_runs_services_from_the_registry_with_homes_on_shared_storage():
    from types import SimpleNamespace

    from recorded import default_settings

    from jhgpu.hub import hub_files
    from jhgpu.swarm import node_units

    data = SimpleNamespace(**default_settings())
    units = node_units("gpu02", [{"uuid": "GPU-bbb", "name": "GPU 0: NVIDIA H200, 140 GiB"}])
    files = hub_files(data, swarm={"registry": "10.0.0.1:5000", "units": units}).files
    config, compose = files["jupyterhub_config.py"], files["docker-compose.yml"]
    assert 'c.JupyterHub.spawner_class = "gpu_spawner.GpuSwarmSpawner"' in config
    assert "c.GpuSwarmSpawner.registry = '10.0.0.1:5000'" in config
    assert "c.GpuSwarmSpawner.gpus = [{'uuid': 'GPU-bbb', 'name': 'gpu02: GPU 0: NVIDIA H200, 140 GiB'}]" in config
    # The whole home is on the shared storage (it follows its user), not a Docker volume of one node.
    assert "'/home/jh_users/.homes/{username}': '/home/jovyan'" in config
    assert "jupyterhub-home-{username}" not in config
    assert "for root in ['/home/jh_users', '/home/jh_users/.homes']:" in config
    assert "external: true" in compose  # the Swarm's overlay network, made by tasks/swarm.py
    single = hub_files(data).files
    assert 'c.JupyterHub.spawner_class = "gpu_spawner.GpuDockerSpawner"' in single["jupyterhub_config.py"]
    # A single server's network is made by tasks/hub.py, its bridge named for the firewall's rules.
    assert "external: true" in single["docker-compose.yml"]


# --- tasks/swarm.py, with recorded facts (constructed: `docker info`'s Swarm section and the files
# as the NVIDIA toolkit's packages and the nvidia-runtime step leave them) -------------------------

from recorded import HOST, run_deploy  # noqa: E402
from test_shared_storage import _asking, facts_per_host  # noqa: E402

GPU = {"index": 0, "name": "NVIDIA H200", "uuid": "GPU-aaa", "memory_mib": 143771, "mig_enabled": False, "mig": []}
DAEMON_JSON = ['{', '  "runtimes": {', '    "nvidia": {', '      "args": [],',
               '      "path": "nvidia-container-runtime"', '    }', '  }', '}']
TOOLKIT_CONFIG = ['#swarm-resource = "DOCKER_RESOURCE_GPU"', '', '[nvidia-container-cli]', 'ldconfig = "@/sbin/ldconfig"']


def node(swarm: dict, files: dict | None = None, network: str | None = None,
         network_options: dict | None = None) -> dict:
    files = {"/etc/docker/daemon.json": DAEMON_JSON, "/etc/nvidia-container-runtime/config.toml": TOOLKIT_CONFIG,
             **(files or {})}
    return {"jhgpu.facts.nvidia.NvidiaGpus": [GPU], "jhgpu.facts.docker.SwarmInfo": swarm,
            "jhgpu.facts.docker.NetworkDriver": lambda network_name=None, **_: network,
            "jhgpu.facts.docker.NetworkOptions": lambda network_name=None, **_: (
                network_options if network_options is not None else {"encrypted": ""}) if network else None,
            "files.FileContents": lambda path: files.get(path)}


def converged_files(registry: str = "10.0.0.1:5000") -> dict:
    return {"/etc/docker/daemon.json": daemon_json_for_swarm("\n".join(DAEMON_JSON), ["gpu=GPU-aaa"], registry).splitlines(),
            "/etc/nvidia-container-runtime/config.toml": toolkit_config_with_swarm_resource(
                "\n".join(TOOLKIT_CONFIG)).splitlines()}


SETTINGS = {"gpu_enabled": True, "swarm_advertise_address": "10.0.0.1"}
AS_MANAGER = {"hub_server": [HOST], "gpu_workers": ["@fake/gpu02"]}


def test_the_hubs_server_starts_the_swarm_and_advertises_its_gpus():
    facts = node(INACTIVE)
    facts["jhgpu.facts.docker.SwarmInfo"] = lambda: INACTIVE if _asking[-1] == HOST else WORKER_INFO  # the worker: joined
    with facts_per_host():
        commands = run_deploy(facts, deploy="tasks/swarm.py", groups=AS_MANAGER, **SETTINGS)
    daemon = json.loads(commands.uploads["/etc/docker/daemon.json"])
    assert daemon["node-generic-resources"] == ["gpu=GPU-aaa"] and daemon["insecure-registries"] == ["10.0.0.1:5000"]
    assert commands.index("systemctl restart docker") < commands.index(
        "docker swarm init --advertise-addr 10.0.0.1 --listen-addr 10.0.0.1:2377")
    assert 'swarm-resource = "DOCKER_RESOURCE_GPU"' in commands.uploads["/etc/nvidia-container-runtime/config.toml"]
    # Encrypted: the proxy's traffic to users' servers carries their cookies and tokens between nodes.
    assert "docker network create --driver overlay --attachable --opt encrypted jupyterhub-network" in commands


def test_an_overlay_made_unencrypted_before_is_kept_with_a_warning(caplog):
    facts = node(MANAGER_INFO, converged_files(), network="overlay", network_options={})
    with facts_per_host():
        facts["jhgpu.facts.docker.SwarmInfo"] = lambda: MANAGER_INFO if _asking[-1] == HOST else WORKER_INFO
        assert run_deploy(facts, deploy="tasks/swarm.py", groups=AS_MANAGER, **SETTINGS) == []
    assert "network jupyterhub-network is not encrypted" in caplog.text


def test_a_node_already_in_this_swarm_changes_nothing():
    facts = node(MANAGER_INFO, converged_files(), network="overlay")
    with facts_per_host():
        facts["jhgpu.facts.docker.SwarmInfo"] = lambda: MANAGER_INFO if _asking[-1] == HOST else WORKER_INFO
        assert run_deploy(facts, deploy="tasks/swarm.py", groups=AS_MANAGER, **SETTINGS) == []
        facts["jhgpu.facts.docker.SwarmInfo"] = lambda: WORKER_INFO if _asking[-1] == HOST else MANAGER_INFO
        as_worker = {"hub_server": ["@fake/gpu01"], "gpu_workers": [HOST]}
        assert run_deploy(facts, deploy="tasks/swarm.py", groups=as_worker, **SETTINGS) == []


def test_a_single_server_is_left_alone():
    assert run_deploy(node(INACTIVE), deploy="tasks/swarm.py", **SETTINGS) == []


# --- the preflight refuses what cannot join, before anything changes ------------------------------

from pyinfra.api.exceptions import PyinfraError  # noqa: E402

from recorded_hosts import fresh_host  # noqa: E402


def preflight(release: tuple[str, str], swarm: dict, groups: dict, engine: str | None = None, esp: bool = True,
              **settings):
    facts = {**fresh_host(*release), "jhgpu.facts.server.KernelHasEsp": esp, "jhgpu.facts.hub.HubContainers": [], "jhgpu.facts.docker.DockerServerVersion": engine,
             "hardware.Cpus": 2,
             "jhgpu.facts.docker.SwarmInfo": swarm,
             # What apt would install (Debian 12: 20.10; Ubuntu 24.04's updates: 28.2), constructed.
             "jhgpu.facts.apt.AptCandidates": lambda pattern: {"docker.io": {
                 "version": "20.10.24+dfsg1-1+deb12u1" if release == ("debian", "12") else "28.2.2-0ubuntu1~24.04.1",
                 "depends": []}}}
    return run_deploy(facts, deploy="tasks/preflight.py", groups=groups,
                      **{"gpu_enabled": False, "swarm_advertise_address": "10.0.0.1", **settings})


AS_WORKER = {"hub_server": ["@fake/gpu01"], "gpu_workers": [HOST]}


def test_an_engine_too_old_for_gpu_swarm_is_refused_before_any_change():
    with pytest.raises(PyinfraError) as refused:  # both hosts are Debian 12 here: whichever is checked first
        preflight(("debian", "12"), INACTIVE, AS_WORKER)
    assert re.search(r"host '@fake/(recorded|gpu01)' cannot be a (worker|manager) of the Hub's Swarm", str(refused.value))
    assert "Docker engine 20.10.24+dfsg1-1+deb12u1 is too old for GPUs in a Swarm" in str(refused.value)


def test_a_worker_of_another_swarm_is_refused_before_any_change():
    with pytest.raises(PyinfraError, match="already belongs to another Swarm"):
        preflight(("ubuntu", "24.04"), OTHER_SWARM, AS_WORKER)


def test_a_kernel_without_ipsec_is_refused_for_an_encrypted_network():
    with pytest.raises(PyinfraError) as refused:
        preflight(("ubuntu", "24.04"), INACTIVE, AS_WORKER, esp=False)
    assert re.search(r"host '@fake/(recorded|gpu01)' cannot be a (worker|manager) of the Hub's Swarm", str(refused.value))
    assert "setting 'swarm_encrypted_network' (of the Hub's server) needs IPsec ESP" in str(refused.value)


def test_impossible_groups_are_refused_naming_the_host():
    with pytest.raises(PyinfraError, match=f"invalid inventory groups for host '{HOST}'"):
        preflight(("ubuntu", "24.04"), INACTIVE, {"gpu_workers": [HOST]})


def test_a_cpu_limit_beyond_a_nodes_cpus_is_refused():
    with pytest.raises(PyinfraError, match="setting 'user_cpu_limit' 4 is more than this host's 2 CPUs"):
        preflight(("ubuntu", "24.04"), INACTIVE, AS_WORKER, user_cpu_limit=4)


def test_a_new_enough_worker_passes():
    assert preflight(("ubuntu", "24.04"), INACTIVE, AS_WORKER, user_cpu_limit=2) == []


def test_team_folders_are_allowed_in_a_swarm_they_live_on_the_shared_storage():
    assert preflight(("ubuntu", "24.04"), INACTIVE, AS_WORKER, user_cpu_limit=2, team_folders=["vision"]) == []
