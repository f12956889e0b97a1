"""GPUs of one's own, through the Hub, on a test-bed host with stand-in GPUs.

The host (Debian 12) has no GPU. It gets the stand-ins of tests/testbed/nvidia_standins.py: the
NVIDIA packages from a signed repository it serves itself, an `nvidia-smi` listing two GPUs, and
an `nvidia-container-runtime-hook` on Docker's PATH. With that hook Docker accepts GPU device
requests for real, and the hook records which GPUs each container was given. Three users share
the two GPUs, exclusively, through the browser and the Hub's REST API.

What the stand-ins cannot prove: that NVIDIA's real hook hands exactly those GPUs to the
container, that CUDA inside sees them (or only them), anything about MIG instances (the
allocator's tests cover MIG with a captured listing), or the real nvidia-smi's output beyond the
captured H200 sample its format follows.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

from conftest import DeployedHub
from hub_browser import UserPages, api, write_file
from testbed import nvidia_standins, prometheus, testbed

pytestmark = pytest.mark.e2e

USERS = ("ann", "ben", "cai")
IMAGE = "Python (SciPy)"
SHM_SIZE = "1G"
CONFIG = "/home/jupyterhub/JupyterHubGPU/jupyterhub_config.py"


class GpuHub(DeployedHub, UserPages):
    def __init__(self, host: testbed.Host, tmp):
        self.passwords = {user: secrets.token_urlsafe(16) for user in USERS}
        urls = nvidia_standins.serve(host, nvidia_standins.build_repository(tmp))
        nvidia_standins.install_admins_driver(host)
        self.gpus = nvidia_standins.install_gpus(host)
        settings = testbed.testbed_settings(tmp)
        super().__init__(host, tmp, {**settings, **urls, "gpu_enabled": True,
                                     "nvidia_driver_branch": None, "gpu_check_image": None,  # no CUDA in containers
                                     "hub_users": list(USERS), "hub_passwords": self.passwords,
                                     "user_shm_size": SHM_SIZE,
                                     "preload_images": [*settings["preload_images"],
                                                        testbed._archive(prometheus.image(), tmp)]})

    def gpus_of(self, user: str) -> list[str]:
        """The GPUs the device request of `user`'s container names."""
        requests = json.loads(self.host.ssh(f"docker inspect --format '{{{{json .HostConfig.DeviceRequests}}}}' "
                                            f"jupyter-{user}").stdout)
        return [uuid for request in requests or [] for uuid in request["DeviceIDs"] or []]

    def container_id(self, user: str) -> str:
        return self.host.ssh(f"docker ps -q --no-trunc --filter name=^jupyter-{user}$").stdout.strip()

    def wait_until_gone(self, user: str) -> None:
        deadline = time.monotonic() + 120
        while self.container_id(user):
            assert time.monotonic() < deadline, f"{user}'s container was not removed"
            time.sleep(1)


@pytest.fixture(scope="module")
def hub(fresh_host, tmp_path_factory):
    gpu_hub = GpuHub(fresh_host, tmp_path_factory.mktemp("gpus"))
    run = gpu_hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    return gpu_hub


def start_with_form(page, hub: GpuHub, gpus: str) -> None:
    """Pick the image and a GPU choice (an option's label) on the spawn page, and submit it."""
    page.goto(hub.url("/hub/spawn"))
    page.select_option("select[name=image]", label=IMAGE)
    page.select_option("select[name=gpus]", label=gpus)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def wait_for_lab(page, user: str) -> None:
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    page.wait_for_selector(".jp-LabShell", timeout=120_000)


def start_with_api(page, user: str, options: dict) -> dict:
    """Start `user`'s server through the Hub's REST API, following its progress events until the
    server is up or the spawn failed. Returns the answer's status and text, and the events."""
    return page.evaluate("""async ([user, options]) => {
        const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
        const headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"};
        const started = fetch(`/hub/api/users/${user}/server`, {method: "POST", headers, body: JSON.stringify(options)});
        await new Promise(resolve => setTimeout(resolve, 300));  // the spawn has begun: its events stream
        const events = await (await fetch(`/hub/api/users/${user}/server/progress`, {headers})).text();
        const answer = await started;
        return {status: answer.status, text: await answer.text(), events};
    }""", [user, options])


def stop(page, hub: GpuHub, user: str) -> None:
    assert api(page, "DELETE", f"/hub/api/users/{user}/server")["status"] in (202, 204)
    hub.wait_until_gone(user)


def test_the_hub_is_given_the_hosts_gpus(hub):
    config = hub.host.ssh(f"cat {CONFIG}").stdout
    for index, uuid in enumerate(hub.gpus):
        assert f"'uuid': '{uuid}', 'name': 'GPU {index}: NVIDIA H200, 140 GiB'" in config


def test_a_rerun_changes_nothing(hub):
    # The GPUs read from nvidia-smi are part of the Hub's config: read again, they change nothing.
    run = hub.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-4000:]


def test_two_users_get_different_gpus_and_see_which(hub, browser):
    for user in ("ann", "ben"):
        page = hub.page(browser, user)
        start_with_form(page, hub, "1 GPU, chosen for you")
        wait_for_lab(page, user)
    ann, ben = hub.gpus_of("ann"), hub.gpus_of("ben")
    assert len(ann) == len(ben) == 1 and sorted(ann + ben) == sorted(hub.gpus)
    # Docker handed each request to the (stand-in) NVIDIA hook, naming that server's GPU alone.
    records = nvidia_standins.hook_records(hub.host)
    assert records[hub.container_id("ann")] == ann[0] and records[hub.container_id("ben")] == ben[0]
    # The server (its first process, so every kernel it starts) says which GPU it got; NVIDIA's
    # variable is Docker's, from the device request (not in `docker exec`'s environment).
    env = hub.host.ssh("docker exec jupyter-ann sh -c \"tr '\\\\0' '\\\\n' < /proc/1/environ\"").stdout
    assert f"JUPYTERGPU_GPUS=GPU {hub.gpus.index(ann[0])}: NVIDIA H200, 140 GiB ({ann[0]})" in env
    assert f"NVIDIA_VISIBLE_DEVICES={ann[0]}" in env


def test_a_third_user_is_told_who_holds_the_gpus_and_can_start_without_one(hub, browser):
    page = hub.page(browser, "cai")
    start_with_form(page, hub, "1 GPU, chosen for you")
    said = page.inner_text("body")
    assert "No GPU is free." in said, said[:2000]
    assert "is held by ann" in said and "is held by ben" in said
    assert 'Start a CPU-only server instead (choose "No GPU")' in said
    assert not hub.container_id("cai")
    # The form is back, with the CPU-only choice: taking it starts a server without GPUs.
    page.select_option("select[name=image]", label=IMAGE)
    page.select_option("select[name=gpus]", label="No GPU (CPU only)")
    page.click("button[type=submit]")
    wait_for_lab(page, "cai")
    assert hub.gpus_of("cai") == []


def test_a_redeploy_that_recreates_the_hub_keeps_both_servers_and_their_gpus(hub, browser):
    before = {user: (hub.container_id(user), hub.gpus_of(user)) for user in ("ann", "ben")}
    hub_before = hub.host.ssh("docker inspect --format '{{.Id}}' jupyterhub-hub").stdout
    hub.settings["idle_cull_timeout"] = 7200  # a Hub setting: the Hub container is recreated
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert hub.host.ssh("docker inspect --format '{{.Id}}' jupyterhub-hub").stdout != hub_before
    assert {user: (hub.container_id(user), hub.gpus_of(user)) for user in ("ann", "ben")} == before
    # The new Hub reads the holdings from the containers: still none free for cai.
    page = hub.page(browser, "cai")
    stop(page, hub, "cai")
    refused = start_with_api(page, "cai", {"gpus": 1})
    assert "No GPU is free." in refused["text"] + refused["events"], refused
    assert not hub.container_id("cai")


def test_stopping_a_server_frees_its_gpu_for_the_next_user(hub, browser):
    freed = hub.gpus_of("ben")
    stop(hub.page(browser, "ben"), hub, "ben")
    started = start_with_api(hub.page(browser, "cai"), "cai", {"gpus": 1})
    assert started["status"] in (201, 202), started
    assert hub.gpus_of("cai") == freed
    # The spawn's progress said which GPU the server got.
    assert f"GPUs for this server: GPU {hub.gpus.index(freed[0])}: NVIDIA H200" in started["events"], started


def test_two_spawns_at_the_same_moment_never_get_the_same_gpu(hub, browser):
    stop(hub.page(browser, "ann"), hub, "ann")  # one GPU free: ann and ben both want it
    pages = {user: hub.page(browser, user) for user in ("ann", "ben")}
    # Both requests leave at once: each page sends its own without waiting for the answer
    # (playwright's pages are not thread-safe), then the answers are collected.
    results = {}
    for user, page in pages.items():
        page.evaluate("""([user]) => {
            const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
            window.spawned = fetch(`/hub/api/users/${user}/server`, {method: "POST",
                headers: {"X-XSRFToken": xsrf, "Content-Type": "application/json"}, body: JSON.stringify({gpus: 1})})
              .then(async r => ({status: r.status, text: await r.text()}));
        }""", [user])
    for user, page in pages.items():
        results[user] = page.evaluate("() => window.spawned")
    deadline = time.monotonic() + 120
    while not all(hub.container_id(user) or "No GPU is free" in results[user]["text"] for user in results):
        assert time.monotonic() < deadline, results
        time.sleep(1)
    winners = [user for user in results if hub.container_id(user)]
    assert len(winners) == 1, results
    loser = next(user for user in results if user not in winners)
    assert "No GPU is free." in results[loser]["text"] and "is held by" in results[loser]["text"]
    held = [hub.gpus_of(user) for user in ("cai", winners[0])]
    assert sorted(sum(held, [])) == sorted(hub.gpus)


def test_dev_shm_has_the_configured_size(hub):
    shm = hub.host.ssh("docker exec jupyter-cai df -k --output=size /dev/shm").stdout.split()[-1]
    assert int(shm) == 1024 * 1024  # 1G, not Docker's 64M


def test_pip_install_user_survives_a_stop_and_start(hub, browser):
    # A package made on the spot (no index needed), installed with `pip install --user` as a user
    # would, in their running server.
    make_wheel = (
        "import zipfile; w = zipfile.ZipFile('/tmp/labtools-1.0-py3-none-any.whl', 'w');"
        "w.writestr('labtools.py', 'ANSWER = 42\\n');"
        "w.writestr('labtools-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: labtools\\nVersion: 1.0\\n');"
        "w.writestr('labtools-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n');"
        "w.writestr('labtools-1.0.dist-info/RECORD', ''); w.close()")
    installed = hub.host.ssh(f"docker exec -u jovyan jupyter-cai sh -c \"python3 -c \\\"{make_wheel}\\\" && "
                             "pip install --user --no-index /tmp/labtools-1.0-py3-none-any.whl\"", check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    page = hub.page(browser, "cai")
    stop(page, hub, "cai")
    started = start_with_api(page, "cai", {"gpus": 0})
    assert started["status"] in (201, 202), started
    found = hub.host.ssh("docker exec -u jovyan jupyter-cai python3 -c 'import labtools; print(labtools.ANSWER, "
                         "labtools.__file__)'", check=False)
    assert found.stdout.startswith("42 /home/jovyan/.local/lib/"), found.stdout + found.stderr


def test_group_profiles_decide_how_many_gpus_each_user_may_ask_for(hub, browser):
    """ann's group (vision) allows two GPUs, one image and 1G of memory; ben's (nlp) has no
    profile, so no GPU; cai's (teaching) servers run 36 seconds at most. The form offers that, and
    the Hub refuses more, whatever a request asks."""
    for user in USERS:
        if hub.container_id(user):
            stop(hub.page(browser, user), hub, user)
    hub.settings.update(hub_groups={"vision": ["ann"], "nlp": ["ben"], "teaching": ["cai"]},
                        group_profiles={"vision": {"max_gpus": 2, "images": [IMAGE], "mem_limit": "1G"},
                                        "teaching": {"max_gpus": 0, "max_hours": 0.01}})
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    hub.__dict__.pop("_pages", None)  # the Hub was recreated: log in afresh

    def offered(user: str) -> list[str]:
        page = hub.page(browser, user)
        page.goto(hub.url("/hub/spawn"))
        return page.locator("select[name=gpus] option").all_inner_texts()

    assert "2 GPUs, chosen for you" in offered("ann")
    assert offered("ben") == ["No GPU (CPU only)"]
    crafted = start_with_api(hub.page(browser, "ben"), "ben", {"gpus": 1})
    assert crafted["status"] == 400 and "Your groups allow you no GPU" in crafted["text"], crafted
    too_many = start_with_api(hub.page(browser, "ann"), "ann", {"gpus": 3})
    assert too_many["status"] == 400 and "You can ask for 0 to 2 GPUs, not 3" in too_many["text"], too_many
    assert not hub.container_id("ann") and not hub.container_id("ben")
    # vision's one image is all ann is offered (no choice: the form asks for GPUs only), and all she may start
    page = hub.page(browser, "ann")
    page.goto(hub.url("/hub/spawn"))
    assert page.locator("select[name=image]").count() == 0 and page.locator("select[name=gpus]").count() == 1
    other = start_with_api(page, "ann", {"gpus": 0, "image": "TensorFlow (GPU)"})
    assert other["status"] == 400 and "TensorFlow (GPU) not in allowed list" in other["text"], other
    started = start_with_api(hub.page(browser, "ann"), "ann", {"gpus": 2})
    assert started["status"] in (201, 202), started
    assert sorted(hub.gpus_of("ann")) == sorted(hub.gpus)
    image, memory = hub.host.ssh("docker inspect --format '{{.Config.Image}} {{.HostConfig.Memory}}' jupyter-ann").stdout.split()
    assert "scipy-notebook" in image and memory == str(2**30)  # vision's 1G, not user_mem_limit
    stop(hub.page(browser, "ann"), hub, "ann")
    # teaching's longest run: the Hub stops cai's server once it has run 36 seconds (polled every 30)
    started = start_with_api(hub.page(browser, "cai"), "cai", {"gpus": 0})
    assert started["status"] in (201, 202) and hub.container_id("cai"), started
    deadline = time.monotonic() + 150
    while hub.container_id("cai"):
        assert time.monotonic() < deadline, "cai's server ran past teaching's max_hours"
        time.sleep(2)
    assert "ran longer than the 0.01 hours their groups allow" in hub.host.ssh("docker logs jupyterhub-hub 2>&1").stdout


def test_admins_see_who_holds_which_gpu_and_idle_gpus_come_back(hub, browser):
    """cai, now an admin, sees on the GPU page which GPU ann and ben hold and how busy each is;
    ben cannot open it. ann's GPU reads 0 % (the stand-in's utilisation), ben's 70 %: with
    gpu_idle_timeout 60 s and a grace of 30 s, ann is told on the Hub's home page, then her server
    stops, her files kept; ben's keeps running."""
    for user in USERS:
        if hub.container_id(user):
            stop(hub.page(browser, user), hub, user)
    for uuid in hub.gpus:  # busy, until the test says otherwise
        nvidia_standins.set_utilization(hub.host, uuid, 70)
    token = hub.tmp / "prometheus-token"
    token.write_text(secrets.token_hex(32) + "\n")
    hub.settings.update(hub_groups={}, group_profiles={}, hub_admin_users=["cai"], hub_users=["ann", "ben"],
                        gpu_idle_timeout=60, gpu_idle_grace=30, prometheus_token_file=str(token))
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    hub.__dict__.pop("_pages", None)  # the Hub was recreated: log in afresh
    for user in ("ann", "ben"):
        started = start_with_api(hub.page(browser, user), user, {"gpus": 1})
        assert started["status"] in (201, 202), started
    [ann_gpu], [ben_gpu] = hub.gpus_of("ann"), hub.gpus_of("ben")
    nvidia_standins.set_utilization(hub.host, ann_gpu, 0)
    ann = hub.page(browser, "ann")
    ann.goto(hub.url("/user/ann/lab"))
    assert write_file(ann, "ann", "work/kept.txt", "still here")["status"] == 201

    admin = hub.page(browser, "cai")
    deadline = time.monotonic() + 90
    while True:  # the sampler writes every few seconds; the page refreshes itself, a reload is quicker
        admin.goto(hub.url("/services/gpu-usage/"))
        rows = {row.split("\t")[2]: row.split("\t") for row in admin.locator("#gpus tbody tr").all_inner_texts()
                if row.count("\t") >= 6}
        if (rows.get(ann_gpu) or [""] * 8)[6].startswith("idle") and (rows.get(ben_gpu) or [""] * 8)[4] == "70 %":
            break
        assert time.monotonic() < deadline, rows
        time.sleep(3)
    assert rows[ann_gpu][3] == "ann" and rows[ben_gpu][3] == "ben" and rows[ann_gpu][4] == "0 %"
    assert rows[ben_gpu][6] == "in use" and "NVIDIA H200" in rows[ann_gpu][1]
    assert hub.page(browser, "ben").goto(hub.url("/services/gpu-usage/")).status == 403  # not an admin

    # Prometheus (Debian's) scrapes the Hub's and the GPUs' metrics with the token; nobody without it.
    for path in ("/hub/metrics", "/services/gpu-usage/metrics"):
        status = hub.host.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{testbed.HUB_PORT}{path}").stdout
        assert status == "403", (path, status)
    prometheus.serve(hub.host, hub.tmp, "jupyterhub-network", token)
    [held] = prometheus.query(hub.host, 'jupytergpu_gpu_utilization_percent{holder="ben"}')
    assert held["metric"]["uuid"] == ben_gpu and held["value"][1] == "70", held
    assert prometheus.query(hub.host, 'up{job="hub"} == 1') and prometheus.query(hub.host, "jupyterhub_active_users")
    assert token.read_text().strip() not in hub.host.ssh("journalctl --no-pager -o cat").stdout

    deadline = time.monotonic() + 240
    warned = False
    while hub.container_id("ann"):
        if not warned:
            home = hub.page(browser, "ann")
            home.goto(hub.url("/hub/home"))
            warned = "GPUs have been idle since" in home.inner_text("body")
        assert time.monotonic() < deadline, "ann's idle GPU was not reclaimed"
        time.sleep(3)
    assert warned, "ann was not told before her server stopped"
    assert hub.container_id("ben"), "ben's busy GPU was reclaimed"
    assert hub.host.ssh("cat /home/jh_users/ann/kept.txt").stdout == "still here"
    home = hub.page(browser, "ann")
    home.goto(hub.url("/hub/home"))
    assert "stopped because its GPUs stayed idle" in home.inner_text("body")
    stop(hub.page(browser, "ben"), hub, "ben")


def test_a_no_gpu_server_gets_no_gpu_where_docker_defaults_to_nvidias_runtime(hub, browser):
    """Last in this module: Docker restarts. Many GPU cloud images make NVIDIA's runtime Docker's
    default; it then hands each container the GPUs its image asks for, and the CUDA images (like
    the fixture chain here) ask for all. A server started without GPUs must get none."""
    hub.host.ssh("python3 -c \"import json; p = '/etc/docker/daemon.json'; c = json.load(open(p));"
                 " c['default-runtime'] = 'nvidia'; json.dump(c, open(p, 'w'))\" && systemctl restart docker")
    hub.wait_for_hub(seconds=180)  # the Hub comes back by itself; users' servers stopped with Docker
    page = hub.page(browser, "ann")
    started = start_with_api(page, "ann", {"gpus": 0})
    assert started["status"] in (201, 202), started
    # The (stand-in) NVIDIA runtime gave its hook the server's container, which asked for no GPU.
    assert nvidia_standins.hook_records(hub.host)[hub.container_id("ann")] == "void"
    assert hub.gpus_of("ann") == []
