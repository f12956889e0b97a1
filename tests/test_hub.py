"""The Hub's rendered files, read the way the Hub and Compose read them.

jupyterhub_config.py is executed against a recording `get_config()`, so these tests see the
values JupyterHub would get. The GPUs the spawner hands out are rendered from the NvidiaGpus fact;
how it chooses is tested in test_gpu_allocation.py, and live through a Hub in test_e2e_gpus.py.
"""

from __future__ import annotations

import io
import json
import os
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from jhgpu.facts.nvidia import NvidiaGpus
from jhgpu.hub import HUB_MODULES, NOTEBOOK_GID, NOTEBOOK_UID, hub_files
from jhgpu.tls import PROXY_DIGEST_LABEL
from jhgpu.images import offered_images
from recorded import default_settings


class Section(dict):
    """c.DockerSpawner and friends: attributes become dict entries."""

    def __getattr__(self, name):
        return self.setdefault(name, Section())

    def __setattr__(self, name, value):
        self[name] = value


class RecordingNativeAuthenticator:
    """Stands in for NativeAuthenticator's sign-up: a new account, authorized at once where the
    name is an allowed user, as NativeAuthenticator's create_user does (get_authed_users)."""

    allowed_users = {"carol"}  # as an admin's "Add Users" in the admin panel makes it

    def __init__(self):
        self.db = SimpleNamespace(commit=lambda: None)

    def normalize_username(self, username):
        return username.lower()

    def create_user(self, username, password, **kwargs):
        return SimpleNamespace(username=username, is_authorized=username in self.allowed_users)


def settings(**overrides) -> SimpleNamespace:
    return SimpleNamespace(**{**default_settings(), **overrides})


def files(gpus=None, **overrides) -> dict[str, str]:
    """The Hub's files for these settings, on a host whose NvidiaGpus fact is `gpus`."""
    return hub_files(settings(**overrides), gpus=gpus).files


def reading(text: str):
    """A stand-in for open() in the rendered configuration: every file it opens reads `text` (a
    password or token the Hub finds in its data folder); the paths opened are kept in .opened."""
    opened = []

    def fake_open(path, *args, **kwargs):
        opened.append(path)
        return io.StringIO(text)

    fake_open.opened = opened
    return fake_open


def run_config(rendered: str, _open=open) -> Section:
    """What JupyterHub would be configured with by this jupyterhub_config.py (`_open`: what its
    open() reads)."""
    config = Section()
    stub = types.ModuleType("nativeauthenticator")  # its folder (templates) and its class are used
    stub.__file__ = "/usr/lib/python3/nativeauthenticator/__init__.py"
    stub.NativeAuthenticator = RecordingNativeAuthenticator
    sys.modules["nativeauthenticator"] = stub
    exec(compile(rendered, "jupyterhub_config.py", "exec"), {"get_config": lambda: config, "open": _open})
    return config


def hub_config(gpus=None, _open=open, **overrides) -> Section:
    """What JupyterHub would be configured with on a host with these settings (`_open`: what the
    configuration's open() reads, for the files the Hub finds in its data folder)."""
    return run_config(files(gpus, **overrides)["jupyterhub_config.py"], _open)


def two_gpus() -> list[dict]:
    """The NvidiaGpus fact of a host with two GPUs (the captured H200, twice)."""
    h200 = NvidiaGpus().process((Path(__file__).parent / "fixtures" / "nvidia" / "nvidia-smi-h200.txt")
                                .read_text().splitlines())[0]
    return [h200, {**h200, "index": 1, "uuid": "GPU-00000000-0000-0000-0000-000000000001"}]


def test_the_hub_hands_out_the_hosts_gpus_one_server_each_by_default():
    spawner = hub_config(two_gpus()).GpuDockerSpawner
    assert spawner.gpus == [
        {"uuid": "GPU-f099d46c-2412-5391-f791-126211e3e659", "name": "GPU 0: NVIDIA H200, 140 GiB"},
        {"uuid": "GPU-00000000-0000-0000-0000-000000000001", "name": "GPU 1: NVIDIA H200, 140 GiB"}]
    assert (spawner.gpu_allocation, spawner.max_gpus_per_user, spawner.default_gpus) == ("exclusive", 1, 1)
    assert hub_config().JupyterHub.spawner_class == "gpu_spawner.GpuDockerSpawner"
    # No GPU is requested statically: the spawner adds each server's own.
    assert "device_requests" not in hub_config(two_gpus()).DockerSpawner.extra_host_config


def test_allocation_settings_reach_the_spawner():
    spawner = hub_config(two_gpus(), gpu_allocation="shared", max_gpus_per_user=2, user_gpus=2).GpuDockerSpawner
    assert (spawner.gpu_allocation, spawner.max_gpus_per_user, spawner.default_gpus) == ("shared", 2, 2)


def test_a_hub_without_known_gpus_starts_cpu_only_servers():
    assert hub_config(two_gpus(), gpu_enabled=False).GpuDockerSpawner.gpus == []
    # Before the driver's first reboot nvidia-smi sees nothing: servers default to no GPU.
    spawner = hub_config(None).GpuDockerSpawner
    assert spawner.gpus == [] and spawner.default_gpus == 0


def test_the_hub_image_carries_the_spawner_its_allocator_and_the_directory_logins():
    dockerfile = files()["hub-image/Dockerfile"]
    copied = dockerfile.split("COPY gpu_spawner.py", 1)[1].split("/opt/jupytergpu/", 1)[0]
    assert "ENV PYTHONPATH=/opt/jupytergpu" in dockerfile
    assert {module.name for module in HUB_MODULES} == {"gpu_spawner.py", *copied.replace("\\", " ").split()} == {
        "directory_auth.py", "gpu_allocation.py", "gpu_spawner.py", "gpu_usage.py", "gpu_usage_service.py",
        "group_profiles.py", "spawner_policies.py", "backup_status.py"}
    assert all(module.is_file() for module in HUB_MODULES)


def test_group_profiles_reach_the_spawner():
    profiles = {"vision": {"max_gpus": 2}}
    assert hub_config(two_gpus(), group_profiles=profiles).GpuDockerSpawner.group_profiles == profiles


def test_the_image_picker_offers_the_chain_by_display_name():
    config = hub_config()
    offered = offered_images(settings())
    assert config.DockerSpawner.allowed_images == offered
    assert list(offered) == ["Python (SciPy)", "TensorFlow (GPU)", "PyTorch (GPU)"]
    assert config.DockerSpawner.image == "jupytergpu/scipy-notebook:latest"


def test_work_is_the_users_folder_on_the_host_the_home_a_volume_and_shared_is_read_only():
    config = hub_config(users_home_root="/srv/homes", shared_data_dir="/mnt/datasets", compose_project_name="lab")
    assert config.DockerSpawner.volumes == {
        "lab-home-{username}": "/home/jovyan",  # pip --user, conda environments, JupyterLab settings
        "/srv/homes/{username}": "/home/jovyan/work",
        "/mnt/datasets": {"bind": "/home/jovyan/SHARED", "mode": "ro"},
    }
    assert config.DockerSpawner.remove is True  # stopping removes the container, not the folder
    assert config.Spawner.default_url == "/lab"


def test_a_restarting_hub_leaves_users_servers_running_and_shm_is_large():
    config = hub_config(user_shm_size="4G")
    assert config.JupyterHub.cleanup_servers is False
    assert config.DockerSpawner.extra_host_config["shm_size"] == "4G"


def test_the_work_folder_is_made_for_the_notebook_user_and_existing_ones_are_left_alone(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root (the test suite runs as root, like its Docker engine)")
    hook = hub_config(users_home_root=str(tmp_path)).Spawner.pre_spawn_hook
    hook(spawner_of("alice"))
    made = (tmp_path / "alice").stat()
    assert (made.st_uid, made.st_gid, oct(made.st_mode & 0o777)) == (NOTEBOOK_UID, NOTEBOOK_GID, "0o700")

    (tmp_path / "bob").mkdir(mode=0o755)
    hook(spawner_of("bob"))
    kept = (tmp_path / "bob").stat()
    assert (kept.st_uid, oct(kept.st_mode & 0o777)) == (0, "0o755")


def spawner_of(name: str, groups=(), volumes=None) -> SimpleNamespace:
    """What the pre-spawn hook sees of a user's spawner."""
    user = SimpleNamespace(groups=[SimpleNamespace(name=group) for group in groups])
    return SimpleNamespace(escaped_name=name, user=user, volumes=dict(volumes or {}))


def test_a_team_folder_is_mounted_into_its_members_servers_only(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root (the test suite runs as root, like its Docker engine)")
    config = hub_config(users_home_root=str(tmp_path), team_folders=["vision", "nlp"], team_folders_root="/srv/teams",
                        hub_groups={"vision": ["alice", "carol"], "nlp": ["bob"], "alumni": ["dave"]})
    assert config.JupyterHub.load_groups == {"alumni": {"users": ["dave"]}, "nlp": {"users": ["bob"]},
                                             "vision": {"users": ["alice", "carol"]}}
    base = config.DockerSpawner.volumes
    alice = spawner_of("alice", ["vision", "alumni"], base)
    config.Spawner.pre_spawn_hook(alice)
    assert alice.volumes == {**base, "/srv/teams/vision": "/home/jovyan/teams/vision"}
    bob = spawner_of("bob", ["nlp"], base)
    config.Spawner.pre_spawn_hook(bob)
    assert "/srv/teams/vision" not in bob.volumes and bob.volumes["/srv/teams/nlp"] == "/home/jovyan/teams/nlp"
    dave = spawner_of("dave", ["alumni"], base)  # a group without a folder
    config.Spawner.pre_spawn_hook(dave)
    assert dave.volumes == base


def test_limits_and_idle_culling_follow_the_settings():
    config = hub_config(user_mem_limit="4G", user_cpu_limit=1.5, idle_cull_timeout=600, gpu_enabled=False)
    # defaults for users outside any group profile (files/gpu_spawner.py applies them at each start)
    assert (config.GpuDockerSpawner.default_mem_limit, config.GpuDockerSpawner.default_cpu_limit) == ("4G", 1.5)
    [culler] = config.JupyterHub.services
    assert culler["command"][-1] == "--timeout=600"
    assert config.JupyterHub.load_roles[1]["services"] == ["idle-culler"]

    unlimited = hub_config(user_mem_limit=None, user_cpu_limit=None, idle_cull_timeout=None, gpu_enabled=False)
    assert (unlimited.GpuDockerSpawner.default_mem_limit, unlimited.GpuDockerSpawner.default_cpu_limit) == (None, None)
    assert unlimited.JupyterHub.services == [] and [r["name"] for r in unlimited.JupyterHub.load_roles] == ["admin"]


def test_accounts_are_kept_in_the_hubs_database_on_the_host():
    config = hub_config(hub_admin_users=["root-of-lab", "ada"], hub_users=["bob"])
    assert config.JupyterHub.authenticator_class.__mro__[1] is RecordingNativeAuthenticator  # NativeAuthenticator
    assert config.JupyterHub.load_roles[0] == {"name": "admin", "users": ["ada", "root-of-lab"]}
    assert config.Authenticator.allowed_users == {"ada", "bob", "root-of-lab"}
    assert config.Authenticator.blocked_users == set()
    assert config.Authenticator.allow_existing_users is True  # added in the admin panel
    assert config.JupyterHub.db_url == "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
    assert config.JupyterHub.cookie_secret_file.startswith("/srv/jupyterhub/data/")
    assert config.NativeAuthenticator.open_signup is False
    compose = files(jupyterhub_root="/opt/hub")["docker-compose.yml"]
    assert "- /opt/hub/data:/srv/jupyterhub/data\n" in compose


def test_no_password_reaches_any_rendered_file():
    password = "correct horse battery staple"
    rendered = files(hub_users=["alice"], hub_passwords={"alice": password})
    assert all(password not in content for content in rendered.values())


def test_compose_runs_the_hub_on_its_port_across_reboots_without_a_gpu_runtime():
    compose = files(hub_tls="off", hub_port=8443, compose_project_name="lab")["docker-compose.yml"]
    assert '- "0.0.0.0:8443:8000"' in compose
    assert "restart: always" in compose
    assert "- /var/run/docker.sock:/var/run/docker.sock" in compose
    assert "container_name: lab-hub" in compose and "name: lab-network" in compose
    assert "runtime" not in compose and "nvidia" not in compose
    assert files(compose_project_name="lab")[".env"].splitlines()[-1] == "COMPOSE_PROJECT_NAME=lab"


def test_the_hub_image_adds_spawner_authenticator_and_culler_to_the_base():
    dockerfile = files(hub_base_image="registry.example.org/jupyterhub:5.5.4")["hub-image/Dockerfile"]
    assert dockerfile.splitlines()[2] == "FROM registry.example.org/jupyterhub:5.5.4"
    for package in ("dockerspawner==", "jupyterhub-nativeauthenticator==", "jupyterhub-idle-culler=="):
        assert package in dockerfile
    assert "extra-ca-certificates" not in dockerfile


def test_extra_ca_certificates_reach_the_hub_image_build(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert "COPY extra-ca-certificates.crt" in files(build_ca_certificates=str(bundle))["hub-image/Dockerfile"]


def test_the_config_digest_changes_with_any_setting_the_hub_sees():
    base = hub_files(settings()).config_digest
    assert hub_files(settings()).config_digest == base
    for change in ({"user_mem_limit": "4G"}, {"hub_admin_users": ["ada"]}, {"hub_base_image": "example/hub:1"},
                   {"hub_tls": "off"}):
        assert hub_files(settings(**change)).config_digest != base, change
    assert hub_files(settings(hub_tls="off", hub_port=9000)).config_digest != hub_files(settings(hub_tls="off")).config_digest
    # The proxy's settings are the proxy's: the Hub is left alone, the proxy recreated.
    proxy = hub_files(settings()).proxy_digest
    for change in ({"https_port": 8443}, {"hub_domain": "hub.example.org"}, {"proxy_image": "caddy:2.11.3"}):
        assert hub_files(settings(**change)).config_digest == base, change
        assert hub_files(settings(**change)).proxy_digest != proxy, change
    # Passwords are not part of the Hub's files: changing them must not recreate it.
    assert hub_files(settings(hub_users=["a1"], hub_passwords={"a1": "x" * 12})).config_digest == \
        hub_files(settings(hub_users=["a1"], hub_passwords={"a1": "y" * 12})).config_digest
    label = json.dumps(base)
    assert label in hub_files(settings()).files["docker-compose.yml"]


# --- the deploy's Hub steps, with recorded facts (facts in, commands out) ----------------------

from jhgpu.hub import CONFIG_DIGEST_LABEL  # noqa: E402
from recorded import run_deploy  # noqa: E402
from recorded_hosts import fresh_host  # noqa: E402


HOSTNAME = "gpu01"  # the recorded hosts' (server.Hostname)


def with_running_hub(facts: dict, digest: str, accounts: dict[str, bool], rendered: dict[str, str] | None = None,
                     status: str = "running", answers: bool = True, proxy_digest: str | None = None) -> dict:
    """A host whose Hub container runs from the current hub image, labelled with `digest`, with
    the `rendered` files (name -> content) in place, and its HTTPS proxy labelled `proxy_digest`
    (None: no proxy runs)."""
    import hashlib

    images = {"jupytergpu/hub:latest": {"id": "sha256:hub", "labels": {}},
              "caddy:2.11.4": {"id": "sha256:caddy", "labels": {}}}
    root = "/home/jupyterhub/JupyterHubGPU"
    on_disk = {f"{root}/{name}": hashlib.sha1(content.encode()).hexdigest() for name, content in (rendered or {}).items()}
    owned = {"user": "jupyterhub", "group": "jupyterhub", "mode": 644}
    folders = {root: {**owned, "mode": 750}, f"{root}/hub-image": {**owned, "mode": 750}} if rendered else {}
    if rendered and proxy_digest:
        proxy_folder = {"user": "root", "group": "root"}
        folders.update({f"{root}/proxy": {**proxy_folder, "mode": 755}, f"{root}/proxy/tls": {**proxy_folder, "mode": 700},
                        f"{root}/proxy/data": {**proxy_folder, "mode": 700}})
    directory = facts["files.Directory"]
    containers = {CONFIG_DIGEST_LABEL: [{"name": "jupyterhub-hub", "status": status, "restarting": False,
                                         "image": "sha256:hub", "labels": {CONFIG_DIGEST_LABEL: digest}}],
                  PROXY_DIGEST_LABEL: [{"name": "jupyterhub-proxy", "status": "running", "restarting": False,
                                        "image": "sha256:caddy", "labels": {PROXY_DIGEST_LABEL: proxy_digest}}]
                  if proxy_digest else []}
    return {**facts,
            "files.Directory": lambda path: folders.get(path) or directory(path),
            "files.File": lambda path: owned if path in on_disk else None,
            "files.Sha1File": lambda path: on_disk.get(path),
            "jhgpu.facts.docker.DockerImages": images,
            "jhgpu.facts.hub.HubContainers": lambda label: containers.get(label, []),
            "jhgpu.facts.hub.HubAnswers": lambda container: answers,
            # {name: authorized} of accounts the deploy made, or the fact's own {name: {...}} rows.
            "jhgpu.facts.hub.HubAccounts": lambda container, db_url: accounts and {
                name: row if isinstance(row, dict) else {"authorized": row, "created": True}
                for name, row in accounts.items()}}


def converged_hub(**overrides) -> dict:
    """A host whose Hub (and proxy) run from exactly the files these settings render."""
    rendered = hub_files(settings(**overrides), ["admin", *overrides.get("hub_users", [])], hostname=HOSTNAME)
    return with_running_hub(fresh_host(), rendered.config_digest, {"admin": True}, rendered.files,
                            proxy_digest=rendered.proxy_digest or None)


@pytest.mark.parametrize("distro, version, compose", [
    ("ubuntu", "20.04", "docker compose"), ("ubuntu", "24.04", "docker compose"), ("debian", "12", "docker-compose"),
])
def test_a_fresh_host_starts_the_hub_with_its_compose_and_waits_for_it(distro, version, compose):
    commands = run_deploy(fresh_host(distro, version), gpu_enabled=False)  # Debian 12 needs other GPU settings
    up = f"cd /home/jupyterhub/JupyterHubGPU && {compose} up -d --remove-orphans --force-recreate hub proxy"
    assert up in commands
    wait = commands[commands.index(up) + 1]
    assert "docker exec jupyterhub-hub python3 -c" in wait and "http://127.0.0.1:8000/hub/health" in wait


def test_nobody_can_sign_up_under_a_declared_name():
    authenticator = hub_config(hub_users=["alice"]).JupyterHub.authenticator_class()
    assert authenticator.create_user("admin", "a-password") is None
    assert authenticator.create_user("Alice", "a-password") is None
    carol = authenticator.create_user("carol", "a-password")
    assert carol.username == "carol"
    # A name an admin added is no key: the sign-up waits for an admin's approval all the same.
    assert carol.is_authorized is False


def test_wrong_passwords_in_a_row_lock_an_account_for_a_while():
    authenticator = hub_config().NativeAuthenticator
    assert (authenticator.allowed_failed_logins, authenticator.seconds_before_next_try) == (5, 600)
    assert hub_config(hub_login_attempts=None).NativeAuthenticator.allowed_failed_logins == 0  # never


@pytest.mark.parametrize("name, accepted", [("alice", True), ("alice.smith-2", True), ("x\ncarol", False),
                                            ("bob\n", False), ("Bob", False), ("a b", False), ("", False)])
def test_usernames_are_held_to_a_safe_pattern(name, accepted):
    import re

    pattern = hub_config().Authenticator.username_pattern
    assert bool(re.compile(pattern).match(name)) is accepted  # as JupyterHub's validate_username


def test_the_first_deploy_creates_accounts_with_no_secret_in_any_command():
    password = "alice-initial-pw"
    commands = run_deploy(fresh_host(), hub_users=["alice", "bob"], hub_passwords={"alice": password})
    assert not any(password in c for c in commands)
    upload = commands.index("PUT /home/jupyterhub/JupyterHubGPU/data/accounts-request.json")
    ensure = commands[upload + 1]
    assert ensure == ("docker exec jupyterhub-hub jupytergpu-hub-accounts sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
                      " ensure /srv/jupyterhub/data/accounts-request.json /srv/jupyterhub/data/generated-passwords.tsv")
    record = commands[upload + 2]
    assert record.startswith("umask 077 && ") and ">> /root/jupyterhub-initial-passwords.txt" in record
    assert "chmod 600 /root/jupyterhub-initial-passwords.txt" in record


def test_the_account_request_carries_hashes_not_passwords(monkeypatch):
    import io
    import json

    import bcrypt
    from pyinfra.api.command import FileUploadCommand

    sent = []
    original = FileUploadCommand.__init__

    def capture(self, src, dest, *args, **kwargs):
        if isinstance(src, io.StringIO) and dest.endswith("accounts-request.json"):
            sent.append(json.loads(src.getvalue()))
        original(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(FileUploadCommand, "__init__", capture)
    run_deploy(fresh_host(), hub_users=["alice", "bob"], hub_passwords={"alice": "alice-initial-pw"})
    request = sent[-1]
    assert request["accounts"] == ["admin", "alice", "bob"]
    assert set(request["password_hashes"]) == {"alice"}  # admin's and bob's are generated on the host
    assert bcrypt.checkpw(b"alice-initial-pw", request["password_hashes"]["alice"].encode())
    assert "alice-initial-pw" not in json.dumps(request)


def test_an_unauthorized_row_under_a_declared_name_is_replaced():
    digest = hub_files(settings(hub_users=["carol"])).config_digest
    commands = run_deploy(with_running_hub(fresh_host(), digest, {"admin": True, "carol": False}), hub_users=["carol"])
    assert any(" ensure " in c for c in commands)


def test_an_approved_sign_up_under_a_name_declared_later_is_replaced(monkeypatch):
    """A name added in the admin panel, taken by whoever signed up first and approved: once the
    name is declared, the declared account takes it (the deploy did not make that row)."""
    digest = hub_files(settings(hub_users=["carol"])).config_digest
    accounts = {"admin": True, "carol": {"authorized": True, "created": False}}
    commands = run_deploy(with_running_hub(fresh_host(), digest, accounts), hub_users=["carol"])
    assert any(" ensure " in c for c in commands)
    ours = {"admin": True, "carol": {"authorized": True, "created": True}}  # made by the deploy: kept
    assert not any(" ensure " in c for c in run_deploy(with_running_hub(fresh_host(), digest, ours), hub_users=["carol"]))


def test_a_hub_from_before_the_record_of_made_accounts_starts_it_once():
    digest = hub_files(settings()).config_digest
    unrecorded = {"admin": {"authorized": True, "created": None}}
    commands = run_deploy(with_running_hub(fresh_host(), digest, unrecorded))
    assert any(" ensure " in c for c in commands)


def test_a_converged_hub_is_left_alone():
    commands = run_deploy(converged_hub())
    assert not any(" up -d" in c for c in commands)
    assert not any("jupytergpu-hub-accounts" in c for c in commands)


@pytest.mark.parametrize("change", [
    {"status": "restarting"},  # crash-looping: Docker restarts it again and again
    {"answers": False},  # "running", but its health endpoint does not answer
    {"rendered": {}},  # its files were edited by hand: the deploy restores them, the Hub must reread them
])
def test_a_hub_that_is_not_really_converged_is_recreated(change):
    rendered = hub_files(settings(), ["admin"], hostname=HOSTNAME)
    facts = with_running_hub(fresh_host(), rendered.config_digest, {"admin": True},
                             **{"rendered": rendered.files, "proxy_digest": rendered.proxy_digest, **change})
    assert any(" up -d --remove-orphans --force-recreate hub" in c for c in run_deploy(facts))


def test_the_proxy_alone_is_recreated_when_only_it_differs():
    rendered = hub_files(settings(), ["admin"], hostname=HOSTNAME)
    facts = with_running_hub(fresh_host(), rendered.config_digest, {"admin": True}, rendered.files,
                             proxy_digest="an-older-caddyfile")
    assert [c for c in run_deploy(facts) if " up -d" in c] == [
        "cd /home/jupyterhub/JupyterHubGPU && docker compose up -d --remove-orphans --force-recreate proxy"]


def test_turning_https_off_removes_the_proxy_and_publishes_the_hub():
    on = hub_files(settings(), ["admin"], hostname=HOSTNAME)
    off = hub_files(settings(hub_tls="off"), ["admin"], hostname=HOSTNAME)
    facts = with_running_hub(fresh_host(), off.config_digest, {"admin": True}, off.files, proxy_digest=on.proxy_digest)
    ups = [c for c in run_deploy(facts, hub_tls="off") if " up -d" in c]
    assert ups == ["cd /home/jupyterhub/JupyterHubGPU && docker compose up -d --remove-orphans"]
    assert "proxy:" not in off.files["docker-compose.yml"] and '- "0.0.0.0:8000:8000"' in off.files["docker-compose.yml"]


def test_a_second_hub_or_moved_data_is_refused_before_any_change():
    from jhgpu.hub import HOMES_LABEL, ROOT_LABEL
    from jhgpu.settings import SettingsError

    old = {"name": "oldlab-hub", "status": "running", "restarting": False, "image": "sha256:hub",
           "labels": {CONFIG_DIGEST_LABEL: "x", "com.docker.compose.project": "oldlab",
                      ROOT_LABEL: "/srv/oldhub", HOMES_LABEL: "/srv/homes"}}
    facts = {**fresh_host(), "jhgpu.facts.hub.HubContainers": lambda label: [old]}
    with pytest.raises(SettingsError) as error:
        run_deploy(facts)
    message = str(error.value)
    assert "another Hub, container oldlab-hub of Compose project 'oldlab', is on this host" in message
    assert ("jupyterhub_root moved from /srv/oldhub to /home/jupyterhub/JupyterHubGPU, but the Hub's database "
            "(every account and password) is in /srv/oldhub/data") in message
    assert "users_home_root moved from /srv/homes to /home/jh_users, but the users' files are in /srv/homes" in message


def test_changed_settings_or_a_rebuilt_image_recreate_the_hub_but_never_existing_accounts():
    stale = run_deploy(with_running_hub(fresh_host(), "an-older-digest", {"admin": True, "alice": True}),
                       hub_users=["alice"])
    assert any(" up -d --remove-orphans --force-recreate hub" in c for c in stale)
    assert not any("jupytergpu-hub-accounts" in c for c in stale)


def test_the_accounts_fact_reads_json_so_a_newline_hides_no_name():
    from jhgpu.facts.hub import HubAccounts

    listed = HubAccounts().process(["running", '[{"name": "x\\ncarol", "authorized": false, "created": false}, '
                                               '{"name": "admin", "authorized": true, "created": true}]'])
    assert listed == {"x\ncarol": {"authorized": False, "created": False}, "admin": {"authorized": True, "created": True}}
    assert "carol" not in listed
    assert HubAccounts().process([]) is None  # no Hub running


@pytest.mark.parametrize("address, published", [
    ("0.0.0.0", "0.0.0.0:{port}:{inside}"), ("127.0.0.1", "127.0.0.1:{port}:{inside}"),
    ("192.0.2.10", "192.0.2.10:{port}:{inside}"), ("::1", "[::1]:{port}:{inside}"),
])
def test_only_the_proxy_or_the_plain_hub_is_published_on_the_bind_address(address, published):
    https = files(hub_bind_address=address)["docker-compose.yml"]
    for port, inside in ((443, 443), (80, 80)):
        assert f'      - "{published.format(port=port, inside=inside)}"\n' in https
    assert ":8000\"" not in https  # the Hub's own port is not published
    plain = files(hub_tls="off", hub_bind_address=address)["docker-compose.yml"]
    assert f'      - "{published.format(port=8000, inside=8000)}"\n' in plain and ":443\"" not in plain


def test_names_removed_from_the_declared_accounts_are_blocked_and_lose_admin():
    from jhgpu.hub import hub_context

    ever = ["ada", "admin", "bob", "carol"]
    context = hub_context(settings(hub_admin_users=["admin"], hub_users=["ada"]), ever)
    assert context["blocked_users"] == ["bob", "carol"]  # gone from the settings: blocked, files kept
    assert context["roles"][0] == {"name": "admin", "users": ["admin"]}  # ada is no admin any more
    assert hub_context(settings(hub_admin_users=["admin"], hub_users=["ada", "bob"]), ever)["blocked_users"] == ["carol"]


def test_the_deploy_keeps_a_record_of_every_declared_name():
    facts = fresh_host()
    record = "/home/jupyterhub/JupyterHubGPU/data/declared-accounts.json"
    facts["files.FileContents"] = lambda path: ['["admin", "old-user"]'] if path == record else None
    commands = run_deploy(facts, hub_users=["alice"])
    assert f"PUT {record}" in commands
    config = next(c for c in commands if c == "PUT /home/jupyterhub/JupyterHubGPU/jupyterhub_config.py")
    assert config
    context_blocked = hub_files(settings(hub_users=["alice"]), ["admin", "alice", "old-user"]).files
    assert "c.Authenticator.blocked_users = set(['old-user'])" in context_blocked["jupyterhub_config.py"]


def test_a_new_hub_image_backs_up_the_database_first(caplog):
    rendered = hub_files(settings(), ["admin"], hostname=HOSTNAME)
    facts = converged_hub()
    images = {"jupytergpu/hub:latest": {"id": "sha256:rebuilt", "labels": {}},
              "caddy:2.11.4": {"id": "sha256:caddy", "labels": {}}}
    facts["jhgpu.facts.docker.DockerImages"] = images
    commands = run_deploy(facts)
    backup = next(i for i, c in enumerate(commands) if "source.backup(copy)" in c)
    up = next(i for i, c in enumerate(commands) if " up -d" in c)
    assert backup < up and " --force-recreate hub" in commands[up]
    assert "docker exec jupyterhub-hub python3 -c" in commands[backup]
    assert "/srv/jupyterhub/data/jupyterhub.sqlite /srv/jupyterhub/data/backups/jupyterhub-$stamp.sqlite" in commands[backup]
    assert "|| cp -p /home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite" in commands[backup]  # a Hub that is down
    assert "To restore one: `docker stop jupyterhub-hub`, copy it over" in caplog.text
    # Settings alone (same image) recreate the Hub without a backup.
    stale = run_deploy(with_running_hub(fresh_host(), "an-older-digest", {"admin": True}, rendered.files,
                                        proxy_digest=rendered.proxy_digest))
    assert any(" up -d" in c for c in stale) and not any("source.backup" in c for c in stale)
