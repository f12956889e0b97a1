"""One Hub across two GPU servers, on a Docker Swarm of two test-bed hosts (Debian 13).

The manager (group hub_server) runs the Hub and the image registry; the worker (gpu_workers)
only runs users' servers. Each host has one stand-in GPU (tests/testbed/nvidia_standins.py: an
`nvidia-smi` listing it, NVIDIA's packages from a repository the host serves itself), so two
servers asking for a GPU must land on both nodes. The hosts reach each other over this machine's
Docker bridge. Both hosts mount the same three Docker volumes of this machine at users_home_root,
shared_data_dir and team_folders_root, standing in for NFS exports (shared_storage = "mounted"): a test-bed host
cannot mount NFS, and sshfs, the other way, writes everything as the user it logs in as. The NFS
steps are tested with recorded facts (tests/test_shared_storage.py). The registry is a stand-in
built from Debian's docker-registry package.

What the stand-ins cannot prove: that NVIDIA's real runtime exposes exactly the GPUs Swarm
assigned (DOCKER_RESOURCE_GPU) and no others, that CUDA sees them, or how a real NFS server treats
root and users' uids. The overlay network runs unencrypted here: this machine's kernel has no
IPsec ESP (CONFIG_INET_ESP), so swarm_encrypted_network is False, after a test that the deploy
refuses it on such a kernel; what encryption costs could not be measured here (README).
"""

from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from conftest import PyinfraRun, run_pyinfra
from hub_browser import UserPages, api
from testbed import nvidia_standins, testbed

pytestmark = pytest.mark.e2e

USERS = ("ann", "ben", "cai")
IMAGE = "Python (SciPy)"
GPUS = {"manager": ("0", "GPU-aaaaaaaa-0000-4000-8000-00000000000a"),
        "worker": ("0", "GPU-bbbbbbbb-1111-4111-8111-00000000000b")}
MOUNTED = ("/home/jh_users", "/mnt/shared", "/home/jh_teams")
OUTSIDE = "198.51.100.2"  # stands in for the cloud's metadata service: a listener in a namespace of the worker
CONNECT = "python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)'"
TOKEN_SEEN = "/root/join-token-seen.log"


def serve_outside(host: testbed.Host) -> None:
    """A web server at OUTSIDE, in a network namespace of `host`, routed like any address beyond it."""
    host.ssh("ip netns add outside && ip link add veth-outside type veth peer name veth-inside"
             " && ip link set veth-inside netns outside && ip addr add 198.51.100.1/30 dev veth-outside"
             " && ip link set veth-outside up && ip netns exec outside ip addr add 198.51.100.2/30 dev veth-inside"
             " && ip netns exec outside ip link set veth-inside up && ip netns exec outside ip link set lo up"
             " && ip netns exec outside ip route add default via 198.51.100.1"
             " && (setsid ip netns exec outside python3 -m http.server 8080 >/dev/null 2>&1 < /dev/null &)")


def watch_for_join_tokens(host: testbed.Host) -> None:
    """Record every command line that holds a Swarm join token (SWMTKN-1-...), five times a second.
    The pattern does not match the watcher's own grep."""
    host.ssh(f"(setsid sh -c 'while :; do ps -eo args | grep -a \"SWMTKN-[0-9]\" >> {TOKEN_SEEN}; sleep 0.2; done'"
             " >/dev/null 2>&1 < /dev/null &)")


def eth0_address(host: testbed.Host) -> str:
    """The host's address on this machine's Docker bridge, where the two hosts reach each other."""
    return testbed.docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", host.name).stdout.strip()


class SwarmHub(UserPages):
    """Two test-bed hosts and the inventory that makes them one Hub."""

    def __init__(self, manager: testbed.Host, worker: testbed.Host, tmp):
        self.manager, self.worker, self.tmp = manager, worker, tmp
        self.passwords = {user: secrets.token_urlsafe(16) for user in USERS}
        repository = nvidia_standins.build_repository(tmp)
        self.settings = {
            "manager": {**testbed.swarm_settings(tmp), **nvidia_standins.serve(manager, repository)},
            "worker": {**testbed.swarm_settings(tmp), **nvidia_standins.serve(worker, repository),
                       "shared_storage": "mounted"},
        }
        for role, host in (("manager", manager), ("worker", worker)):
            nvidia_standins.install_admins_driver(host)
            nvidia_standins.install_gpus(host, (GPUS[role],))
            self.settings[role].update({
                "gpu_enabled": True, "nvidia_driver_branch": None, "gpu_check_image": None,
                "hub_admin_users": ["cai"], "hub_users": ["ann", "ben"], "hub_passwords": self.passwords,
                "shared_storage": "mounted",
                "hub_groups": {"vision": ["ann", "ben"]}, "team_folders": ["vision"],
                "user_cpu_limit": 1,  # a Swarm refuses a limit beyond a node's CPUs (test-bed hosts have 2)
                "swarm_advertise_address": eth0_address(host),
                "user_blocked_addresses": ["169.254.169.254", OUTSIDE], "swarm_encrypted_network": False})
        # The worker is deployed through sudo, which logs every command line to the journal.
        self.settings["worker"].update(worker.add_sudo_user())

    def deploy(self, *args: str) -> PyinfraRun:
        inventory = self.tmp / "inventory.py"
        inventory.write_text(
            f"hub_server = [({self.manager.name!r}, {({**self.manager.inventory_data(), **self.settings['manager']})!r})]\n"
            f"gpu_workers = [({self.worker.name!r}, {({**self.worker.inventory_data(), **self.settings['worker']})!r})]\n")
        return run_pyinfra(inventory, *args)

    def url(self, path: str) -> str:
        return self.manager.url(testbed.HUB_PORT, path)

    def _container(self, user: str) -> tuple[testbed.Host, str] | None:
        for host in (self.manager, self.worker):
            container = host.ssh(f"docker ps -q --filter label=com.docker.swarm.service.name=jupyter-{user}").stdout.strip()
            if container:
                return host, container
        return None

    def environment(self, user: str) -> str:
        """The environment of `user`'s server's first process (so of every kernel it starts)."""
        host, container = self._container(user)
        return host.ssh(f"docker exec {container} sh -c \"tr '\\\\0' '\\\\n' < /proc/1/environ\"").stdout

    def placement(self, user: str) -> tuple[str, str]:
        """(node, DOCKER_RESOURCE_GPU) of `user`'s server, once it runs (a start may answer
        before it does)."""
        deadline = time.monotonic() + 120
        while not (found := self._container(user)):
            assert time.monotonic() < deadline, f"{user}'s server is not running"
            time.sleep(1)
        gpus = [line.split("=", 1)[1] for line in self.environment(user).splitlines()
                if line.startswith("DOCKER_RESOURCE_GPU=")]
        return found[0].name, ",".join(gpus)

    def service_exists(self, user: str) -> bool:
        return bool(self.manager.ssh(f"docker service ls -q --filter name=jupyter-{user}").stdout.strip())


@pytest.fixture(scope="module")
def swarm(docker_engine, tmp_path_factory):
    # The same two volumes in both hosts: the users' homes and shared data, as if mounted from one
    # NFS server (shared_storage = "mounted"), the owners' uids kept.
    shared = {}
    for path in MOUNTED:
        volume = f"{testbed.LABEL}-swarm{path.replace('/', '-')}"
        testbed.docker("volume", "create", "--label", testbed.LABEL, volume)
        shared[volume] = path
    hosts = [testbed.start_host(suite="trixie", publish=publish, shared=shared) for publish in ((testbed.HUB_PORT,), ())]
    try:
        hub = SwarmHub(*hosts, tmp_path_factory.mktemp("swarm"))
        serve_outside(hub.worker)
        watch_for_join_tokens(hub.worker)
        hub.settings["manager"]["swarm_encrypted_network"] = True  # refused: the test bed's kernel has no ESP
        hub.encrypted_run = hub.deploy()
        hub.settings["manager"]["swarm_encrypted_network"] = False
        hub.first_run = hub.deploy("--debug")  # every command it ran, as pyinfra logs them
        assert hub.first_run.returncode == 0, hub.first_run.output[-8000:]
        yield hub
    finally:
        if not os.environ.get("KEEP_SWARM"):  # debugging: leave the hosts up
            for host in hosts:
                host.remove()
            testbed.docker("volume", "rm", "-f", *shared, check=False)


def start(page, user: str, gpus: int) -> dict:
    """Start `user`'s server through the Hub's REST API; the answer and the spawn's events."""
    return page.evaluate("""async ([user, gpus]) => {
        const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
        const headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"};
        const started = fetch(`/hub/api/users/${user}/server`, {method: "POST", headers,
                                                               body: JSON.stringify({image: "%s", gpus})});
        await new Promise(resolve => setTimeout(resolve, 300));
        const events = await (await fetch(`/hub/api/users/${user}/server/progress`, {headers})).text();
        const answer = await started;
        return {status: answer.status, text: await answer.text(), events};
    }""" % IMAGE, [user, gpus])


def stop(page, hub: SwarmHub, user: str) -> None:
    assert api(page, "DELETE", f"/hub/api/users/{user}/server")["status"] in (202, 204)
    deadline = time.monotonic() + 120
    while hub.service_exists(user):
        assert time.monotonic() < deadline, f"{user}'s service was not removed"
        time.sleep(1)


def test_both_nodes_are_in_one_swarm_advertising_their_gpus(swarm):
    nodes = json.loads("[" + ",".join(swarm.manager.ssh(
        "docker node ls -q | xargs docker node inspect --format '{{json .Description}}'").stdout.split()) + "]")
    resources = {node["Hostname"]: [r["NamedResourceSpec"]["Value"] for r in node["Resources"].get("GenericResources") or []]
                 for node in nodes}
    assert sorted(map(tuple, resources.values())) == sorted([(GPUS["manager"][1],), (GPUS["worker"][1],)])


def test_an_encrypted_network_is_refused_where_the_kernel_has_no_ipsec(swarm):
    run = swarm.encrypted_run
    assert run.returncode != 0 and "setting 'swarm_encrypted_network' (of the Hub's server) needs IPsec ESP" in run.output
    assert (f"host '{swarm.worker.name}' cannot be a worker" in run.output
            or f"host '{swarm.manager.name}' cannot be a manager" in run.output), run.output[-3000:]


def test_the_join_token_is_in_no_log_or_process_list_and_rotated_after_the_join(swarm):
    assert any(name.startswith("Join the Swarm of") for name in swarm.first_run.changed_operations())
    assert "SWMTKN-" not in swarm.first_run.output  # pyinfra's own log, every command in it
    for host in (swarm.manager, swarm.worker):  # sudo logs each command line it runs to the journal
        journal = host.ssh("journalctl --no-pager -o cat | grep -c 'SWMTKN-[0-9]'", check=False).stdout.strip()
        assert journal == "0", f"a join token is in {host.name}'s journal"
    assert "COMMAND=" in swarm.worker.ssh("journalctl --no-pager -o cat _COMM=sudo").stdout  # sudo did log
    seen = swarm.worker.ssh(f"cat {TOKEN_SEEN} 2>/dev/null; pgrep -f 'grep -a SWMTKN' >/dev/null && echo watched").stdout
    assert seen.strip() == "watched", f"a join token was in the worker's process list: {seen[:300]}"
    # The token the worker used joins nothing any more: rotated once the worker was in.
    assert "Rotate the Swarm's join token, now that workers joined" in swarm.first_run.changed_operations()


def test_a_rerun_changes_nothing_on_either_node(swarm):
    # The shared folders here are the test bed's volumes, mounted without nosuid: an admin's own
    # mounts ("mounted") are warned about, not changed. Once remounted, no warning is left.
    assert "/home/jh_users is mounted without nosuid,nodev" in swarm.first_run.output
    for host in (swarm.manager, swarm.worker):
        for path in MOUNTED:
            host.ssh(f"mount -o remount,bind,nosuid,nodev {path}")
            assert {"nosuid", "nodev"} <= set(host.ssh(f"findmnt -n -o OPTIONS {path}").stdout.strip().split(","))
    run = swarm.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-6000:]
    assert "mounted without nosuid" not in run.output


def test_servers_land_on_both_nodes_with_gpus_of_their_own(swarm, browser):
    for user in ("ann", "ben"):
        started = start(swarm.page(browser, user), user, 1)
        assert started["status"] in (201, 202), started
    ann, ben = swarm.placement("ann"), swarm.placement("ben")
    assert {ann[0], ben[0]} == {swarm.manager.name, swarm.worker.name}
    owned = {swarm.manager.name: GPUS["manager"][1], swarm.worker.name: GPUS["worker"][1]}
    assert ann[1] == owned[ann[0]] and ben[1] == owned[ben[0]]


def test_the_admins_gpu_page_shows_both_nodes_gpus_and_their_holders(swarm, browser):
    """Each node's sampler writes its usage on the shared storage; cai (admin) sees both GPUs."""
    holders = {swarm.placement(user)[1]: user for user in ("ann", "ben")}
    page = swarm.page(browser, "cai")
    deadline = time.monotonic() + 90
    while True:
        page.goto(swarm.url("/services/gpu-usage/"))
        rows = {row.split("\t")[2]: row.split("\t") for row in page.locator("#gpus tbody tr").all_inner_texts()
                if row.count("\t") >= 6}
        if set(rows) == set(holders):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(3)
    nodes = {GPUS["manager"][1]: swarm.manager.name, GPUS["worker"][1]: swarm.worker.name}
    for uuid, user in holders.items():
        assert rows[uuid][0] == nodes[uuid] and rows[uuid][3] == user, rows[uuid]


def test_a_team_folder_is_the_same_on_both_nodes_for_its_members(swarm, browser):
    """ann and ben (group vision) run on different nodes: what one writes in ~/teams/vision the
    other reads and changes."""
    ann, ben = swarm.page(browser, "ann"), swarm.page(browser, "ben")
    path = "teams/vision/plan.txt"
    ann.goto(swarm.url("/user/ann/lab"))
    assert api(ann, "PUT", f"/user/ann/api/contents/{path}",
               {"type": "file", "format": "text", "content": "from ann"})["status"] == 201
    ben.goto(swarm.url("/user/ben/lab"))
    read = api(ben, "GET", f"/user/ben/api/contents/{path}")
    assert read["status"] == 200 and "from ann" in read["text"], read
    assert api(ben, "PUT", f"/user/ben/api/contents/{path}",
               {"type": "file", "format": "text", "content": "from ann, edited by ben"})["status"] == 200
    assert "edited by ben" in swarm.manager.ssh("cat /home/jh_teams/vision/plan.txt").stdout


def test_servers_on_the_worker_reach_no_nodes_own_service_and_no_blocked_address(swarm):
    """From a user's server on the worker, the Hub server's registry, NFS (2049, rpcbind 111),
    Swarm (2377, 7946) and SSH, the worker's own, and the stand-in metadata listener: none answers,
    though each answers the worker itself."""
    on_worker = next(user for user in ("ann", "ben") if swarm.placement(user)[0] == swarm.worker.name)
    container = swarm._container(on_worker)[1]
    manager, worker = eth0_address(swarm.manager), eth0_address(swarm.worker)
    for port in (2049, 111):  # stand-ins for the NFS server's ports (no kernel NFS server here)
        swarm.manager.ssh(f"(setsid python3 -m http.server {port} >/dev/null 2>&1 < /dev/null &)")
    targets = [(manager, port) for port in (5000, 2049, 111, 2377, 7946, 22)] + [(worker, 22), (worker, 7946),
                                                                                  (OUTSIDE, 8080)]
    for address, port in targets:
        deadline = time.monotonic() + 30
        while swarm.worker.ssh(f"{CONNECT} {address} {port}", check=False).returncode != 0:
            assert time.monotonic() < deadline, f"{address}:{port} never answered the worker itself"
            time.sleep(1)
        assert swarm.worker.ssh(f"docker exec {container} {CONNECT} {address} {port}", check=False).returncode != 0, \
            f"{on_worker}'s server on the worker reached {address}:{port}"
    # The Hub, across the overlay, still answers it.
    api_url = next(line.split("=", 1)[1] for line in swarm.environment(on_worker).splitlines()
                   if line.startswith("JUPYTERHUB_API_URL="))
    hub_host, hub_port = api_url.split("//", 1)[1].split("/", 1)[0].split(":")
    assert swarm.worker.ssh(f"docker exec {container} {CONNECT} {hub_host} {hub_port}", check=False).returncode == 0
    # Users' servers hold no capabilities, on any node.
    assert swarm.worker.ssh(f"docker inspect --format '{{{{.HostConfig.CapDrop}}}}' {container}").stdout.strip() == "[ALL]"


def test_the_registry_answers_the_nodes_only(swarm):
    registry = f"http://{eth0_address(swarm.manager)}:5000/v2/"
    assert swarm.worker.ssh(f"curl -sf -o /dev/null {registry}", check=False).returncode == 0
    # Another machine on the same network, not a node of the Swarm.
    stranger = testbed.docker("run", "--rm", "--label", testbed.LABEL, testbed.host_image("trixie"), "python3", "-c",
                              f"import urllib.request; urllib.request.urlopen({registry!r}, timeout=5)", check=False)
    assert stranger.returncode != 0 and "refused" in stranger.stderr.lower(), stranger.stderr[-500:]


def test_a_request_beyond_the_free_gpus_is_told_who_holds_them(swarm, browser):
    page = swarm.page(browser, "cai")
    refused = start(page, "cai", 1)
    said = refused["text"] + refused["events"]
    assert "No GPU is free." in said and "held by ann" in said and "held by ben" in said, refused
    assert not swarm.service_exists("cai")
    # The spawn form offers counts, from none up: Swarm, not the user, picks which GPUs.
    page.goto(swarm.url("/hub/spawn"))
    choices = page.locator("select[name=gpus] option").all_inner_texts()
    assert choices == ["No GPU (CPU only)", "1 GPU, chosen for you"], choices
    # A server without GPUs runs, and sees none: the CUDA images ask for all, the server says void.
    assert start(page, "cai", 0)["status"] in (201, 202)
    node, gpus = swarm.placement("cai")
    assert gpus == "" and "NVIDIA_VISIBLE_DEVICES=void" in swarm.environment("cai")
    page.goto(swarm.url("/user/cai/lab"))
    assert api(page, "GET", "/user/cai/api/contents/teams")["status"] == 404  # not in vision: no team folder
    page.goto(swarm.url("/hub/home"))  # the Hub's API takes the Hub page's XSRF cookie
    stop(page, swarm, "cai")


def test_a_home_follows_its_user_to_the_other_node(swarm, browser):
    first_node = swarm.placement("ann")[0]
    page = swarm.page(browser, "ann")
    page.goto(swarm.url("/user/ann/lab"))
    for path in ("work/from-the-first-node.txt", "in-the-home-not-work.txt"):
        assert api(page, "PUT", f"/user/ann/api/contents/{path}",
                   {"type": "file", "format": "text", "content": f"written on {first_node}"})["status"] == 201
    stop(swarm.page(browser, "ann"), swarm, "ann")  # from the Hub's page: its XSRF cookie
    # cai takes the GPU ann freed; once ben stops, the only free GPU is on ben's node.
    assert start(swarm.page(browser, "cai"), "cai", 1)["status"] in (201, 202)
    stop(swarm.page(browser, "ben"), swarm, "ben")
    assert start(swarm.page(browser, "ann"), "ann", 1)["status"] in (201, 202)
    assert swarm.placement("ann")[0] != first_node
    page.goto(swarm.url("/user/ann/lab"))
    for path in ("work/from-the-first-node.txt", "in-the-home-not-work.txt"):
        read = api(page, "GET", f"/user/ann/api/contents/{path}")
        assert read["status"] == 200 and f"written on {first_node}" in read["text"], read


def test_a_redeploy_that_recreates_the_hub_keeps_servers_on_both_nodes(swarm, browser):
    before = {user: swarm.placement(user) for user in ("ann", "cai")}
    hub_before = swarm.manager.ssh("docker inspect --format '{{.Id}}' jupyterhub-hub").stdout
    swarm.settings["manager"]["idle_cull_timeout"] = 7200  # recreates the Hub container
    run = swarm.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert swarm.manager.ssh("docker inspect --format '{{.Id}}' jupyterhub-hub").stdout != hub_before
    assert {user: swarm.placement(user) for user in ("ann", "cai")} == before
    page = swarm.page(browser, "ann")
    page.goto(swarm.url("/user/ann/lab"))
    assert api(page, "GET", "/user/ann/api/contents/work/from-the-first-node.txt")["status"] == 200
