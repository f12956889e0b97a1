"""The Hub end to end: a test-bed host deployed for real, used through headless Chromium.

Users log in with the passwords the deploy set, pick an image, reach JupyterLab and write files
as a person would; the test then looks at the host over SSH. The image spawned is the fixture
chain's (the real chain needs registries); the host runs CPU-only (gpu_enabled = False): GPU
allocation through the Hub is test_e2e_gpus.py's, on a host with stand-in GPUs.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time

import pytest
from playwright.sync_api import Browser

from conftest import DeployedHub, run_pyinfra, write_inventory
from hub_browser import api, list_folder, log_in, sign_up, start_server, write_file
from testbed import testbed

pytestmark = pytest.mark.e2e

HOMES = "/home/jh_users"
PASSWORDS_FILE = "/root/jupyterhub-initial-passwords.txt"
HUB = "jupyterhub-hub"
PIDS_LIMIT = 256  # user_pids_limit on this host: low, so its fork bomb is quick


class Hub(DeployedHub):
    def __init__(self, host: testbed.Host, tmp):
        self.alice_password = secrets.token_urlsafe(16)  # given; bob's and admin's are generated
        super().__init__(host, tmp, {**testbed.testbed_settings(tmp), "gpu_enabled": False,
                                     "hub_users": ["alice", "bob"], "hub_passwords": {"alice": self.alice_password},
                                     "user_pids_limit": PIDS_LIMIT,
                                     "hub_groups": {"vision": ["admin", "alice"], "nlp": ["bob"]},
                                     "team_folders": ["vision", "nlp"],
                                     **host.add_sudo_user()})  # deployed through sudo, which logs every command

    def generated_passwords(self) -> dict[str, str]:
        lines = self.host.ssh(f"cat {PASSWORDS_FILE}").stdout.splitlines()
        return dict(line.split("\t") for line in lines)

    def hub_container_id(self) -> str:
        return self.host.ssh(f"docker inspect --format '{{{{.Id}}}}' {HUB}").stdout.strip()

    def inspect(self, container: str, template: str) -> str:
        return self.host.ssh(f"docker inspect --format '{template}' {container}", check=False).stdout.strip()


@pytest.fixture(scope="module")
def hub(fresh_host, tmp_path_factory):
    return Hub(fresh_host, tmp_path_factory.mktemp("hub"))


def test_the_deploy_brings_up_the_hub(hub):
    run = hub.first_run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    page = hub.host.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{testbed.HUB_PORT}/hub/login")
    assert page.stdout == "200"
    assert hub.inspect(HUB, "{{.HostConfig.RestartPolicy.Name}}") == "always"


def test_generated_passwords_are_on_the_host_for_root_only(hub):
    assert hub.host.ssh(f"stat -c '%U %G %a' {PASSWORDS_FILE}").stdout.split() == ["root", "root", "600"]
    generated = hub.generated_passwords()
    assert sorted(generated) == ["admin", "bob"]  # alice's password was given
    assert all(len(password) >= 12 for password in generated.values())


def test_no_password_reaches_a_command_line_or_the_journal(hub):
    journal = hub.host.ssh("journalctl --no-pager -o cat").stdout
    # sudo logged the deploy's commands, the account step's among them...
    assert "COMMAND=" in journal and "jupytergpu-hub-accounts" in journal
    # ...and none of them held a password.
    for password in [hub.alice_password, *hub.generated_passwords().values()]:
        assert password not in journal
    # Uploads (the account request with password hashes among them) went through the login
    # user's own folder, never through /tmp, where every account could read them.
    assert "cp /var/lib/jupytergpu-uploads/pyinfra-" in journal and "/tmp/pyinfra-" not in journal
    assert hub.host.ssh("stat -c '%U %a' /var/lib/jupytergpu-uploads").stdout.split() == ["deployer", "700"]


def test_no_password_is_kept_in_the_hubs_files_or_image(hub):
    passwords = [hub.alice_password, *hub.generated_passwords().values()]
    for password in passwords:
        found = hub.host.ssh(f"grep -rlF -- {password!r} /home/jupyterhub /home/jh_users; "
                             f"docker image inspect jupytergpu/hub:latest {HUB} | grep -cF -- {password!r}",
                             check=False)
        assert found.stdout.strip() == "0", found.stdout
        assert password not in hub.first_run.output  # masked in pyinfra's output too


def test_a_user_picks_an_image_and_works_in_jupyterlab(hub, browser):
    hub.host.ssh("echo 'shared data' > /mnt/shared/readme.txt")
    page = log_in(browser, hub, "alice", hub.alice_password)
    assert "/hub/spawn" in page.url  # the image picker
    options = page.locator("select[name=image] option").all_inner_texts()
    assert sorted(options) == ["Python (SciPy)", "TensorFlow (GPU)"]
    start_server(page, hub, "alice", "TensorFlow (GPU)")

    assert write_file(page, "alice", "work/hello.txt", "hello from alice")["status"] == 201
    on_host = hub.host.ssh(f"stat -c '%u %s' {HOMES}/alice/hello.txt; cat {HOMES}/alice/hello.txt").stdout
    assert on_host.splitlines() == ["1000 16", "hello from alice"]  # owned by the container's user

    assert "readme.txt" in list_folder(page, "alice", "SHARED")
    refused = write_file(page, "alice", "SHARED/mine.txt", "no")
    assert refused["status"] >= 400, refused
    assert hub.host.ssh("ls /mnt/shared").stdout.split() == ["readme.txt"]

    assert hub.inspect("jupyter-alice", "{{.Config.Image}}") == "jupytergpu/tensorflow-notebook:latest"
    assert hub.inspect("jupyter-alice", "{{json .HostConfig.DeviceRequests}}") in ("null", "[]")
    assert hub.inspect("jupyter-alice", "{{.HostConfig.Memory}}") == str(8 * 1024**3)
    # /dev/shm at user_shm_size (2G), not Docker's 64M.
    assert hub.inspect("jupyter-alice", "{{.HostConfig.ShmSize}}") == str(2 * 1024**3)
    shm = hub.host.ssh("docker exec jupyter-alice df -k --output=size /dev/shm").stdout.split()[-1]
    assert int(shm) == 2 * 1024**2


def test_the_hub_and_a_users_server_run_the_same_jupyterhub(hub):
    """jupyterhub_version is the Hub's, and the notebook images pin jupyterhub-singleuser to it."""
    import json

    wanted = testbed._default("jupyterhub_version")
    hub_api = hub.host.ssh(f"curl -s http://127.0.0.1:{testbed.HUB_PORT}/hub/api").stdout
    assert json.loads(hub_api)["version"] == wanted
    server = hub.host.ssh("docker exec jupyter-alice python3 -c 'import jupyterhub; print(jupyterhub.__version__)'")
    assert server.stdout.strip() == wanted
    # The Hub compares the versions itself and logs a mismatch (jupyterhub/_version.py, _check_version).
    assert "!= jupyterhub-singleuser version" not in hub.host.ssh(f"docker logs {HUB} 2>&1").stdout


def test_another_user_cannot_see_the_first_users_files(hub, browser):
    page = log_in(browser, hub, "bob", hub.generated_passwords()["bob"])
    start_server(page, hub, "bob", "Python (SciPy)")
    assert "hello.txt" not in list_folder(page, "bob", "work")
    assert api(page, "GET", "/user/alice/api/contents/work")["status"] != 200
    assert hub.host.ssh(f"stat -c '%a' {HOMES}/alice").stdout.strip() == "700"
    # The host's uid 1000 (here the deploy's sudo user, on cloud images `ubuntu`) owns the users'
    # folders, as the notebook user does in their containers, yet cannot reach them.
    assert hub.host.ssh("id -u deployer").stdout.strip() == "1000"
    peek = hub.host.ssh(f"runuser -u deployer -- cat {HOMES}/alice/hello.txt", check=False)
    assert peek.returncode != 0 and "Permission denied" in peek.stderr


def test_a_team_folder_is_shared_by_its_members_and_seen_by_nobody_else(hub, browser):
    """alice and the admin are in vision, bob in nlp (hub_groups); each group has a team folder."""
    hub.host.ssh("docker exec -u jovyan jupyter-alice sh -c 'echo from alice > ~/teams/vision/plan.txt'")
    admin = log_in(browser, hub, "admin", hub.generated_passwords()["admin"])
    start_server(admin, hub, "admin", "Python (SciPy)")
    hub.host.ssh("docker exec -u jovyan jupyter-admin sh -c 'echo edited by admin >> ~/teams/vision/plan.txt'")
    read = hub.host.ssh("docker exec -u jovyan jupyter-alice cat /home/jovyan/teams/vision/plan.txt").stdout
    assert read == "from alice\nedited by admin\n"
    assert hub.host.ssh("docker exec -u jovyan jupyter-bob ls /home/jovyan/teams").stdout.split() == ["nlp"]
    assert hub.host.ssh("docker exec -u jovyan jupyter-bob sh -c 'echo x > ~/teams/nlp/notes.txt'").returncode == 0
    # On the host: the team's, every member's server running as uid 1000; the root, root's alone.
    assert hub.host.ssh("stat -c '%u %g %a' /home/jh_teams /home/jh_teams/vision /home/jh_teams/vision/plan.txt"
                        ).stdout.split("\n")[:3] == ["0 0 700", "1000 100 2770", "1000 100 644"]


def test_a_users_container_is_isolated_from_the_host_the_hub_and_other_users(hub):
    def in_alice(command: str):
        return hub.host.ssh(f"docker exec -u jovyan jupyter-alice sh -c {shlex.quote(command)}", check=False)

    settings = json.loads(hub.inspect("jupyter-alice", "{{json .HostConfig}}"))
    assert settings["Privileged"] is False and not settings["CapAdd"]
    # No capabilities, no privileges gained through setuid programs, a cap on processes.
    assert settings["CapDrop"] == ["ALL"] and "no-new-privileges:true" in settings["SecurityOpt"]
    assert settings["PidsLimit"] == PIDS_LIMIT
    assert in_alice("grep CapEff /proc/self/status").stdout.split() == ["CapEff:", "0000000000000000"]
    assert in_alice("test -e /var/run/docker.sock").returncode != 0  # no Docker socket: no way to the host
    # Its mounts are its own ~/work, its home volume, SHARED (read-only) and its group's team
    # folder: no other user's folder or other group's, no Hub database.
    mounts = {m["Destination"]: m for m in json.loads(hub.inspect("jupyter-alice", "{{json .Mounts}}"))}
    assert set(mounts) == {"/home/jovyan", "/home/jovyan/work", "/home/jovyan/SHARED", "/home/jovyan/teams/vision"}
    assert mounts["/home/jovyan/work"]["Source"] == f"{HOMES}/alice" and mounts["/home/jovyan/SHARED"]["RW"] is False
    assert in_alice("touch ~/SHARED/mine").returncode != 0
    # No other user's server answers alice, whatever bob runs in it: a web server of his own,
    # or his Jupyter port (users reach each other's servers through the Hub's proxy only).
    hub.host.ssh("docker exec -d -u jovyan jupyter-bob python3 -m http.server 9999")
    bob = hub.inspect("jupyter-bob", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    connect = "python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)'"
    deadline = time.monotonic() + 30
    while hub.host.ssh(f"docker exec jupyter-bob {connect} 127.0.0.1 9999", check=False).returncode != 0:
        assert time.monotonic() < deadline, "bob's own web server never answered him"
        time.sleep(1)
    for port in (9999, 8888):
        assert in_alice(f"{connect} {bob} {port}").returncode != 0, f"alice reached bob's port {port}"
    assert in_alice("ls / /home; find / -name 'jupyterhub.sqlite' 2>/dev/null").stdout.count("jupyterhub.sqlite") == 0
    # Nor the host's own services: its SSH, at the network's gateway and at the host's address.
    gateway = hub.host.ssh("docker network inspect jupyterhub-network --format '{{(index .IPAM.Config 0).Gateway}}'")
    for address in (gateway.stdout.strip(), hub.host.ssh("hostname -I").stdout.split()[0]):
        assert hub.host.ssh(f"{connect} {address} 22", check=False).returncode == 0  # it answers the host
        assert in_alice(f"{connect} {address} 22").returncode != 0, f"alice reached the host's SSH at {address}"
    # On the host, no account but root reads users' folders (uid 1000 is checked above).
    for account in ("nobody", "deployer"):
        assert hub.host.ssh(f"runuser -u {account} -- ls {HOMES}", check=False).returncode != 0, account


def test_a_fork_bomb_stops_at_its_container_and_worker_processes_still_run(hub):
    def in_alice(program: str):
        return hub.host.ssh(f"docker exec -u jovyan jupyter-alice python3 -c {shlex.quote(program)}", check=False)

    # A bounded fork bomb: it asks for more processes than the limit allows, then they all end.
    bomb = in_alice(
        "import os, time\nkids = []\ntry:\n    for _ in range(3 * %d):\n        pid = os.fork()\n"
        "        if pid == 0:\n            time.sleep(20); os._exit(0)\n        kids.append(pid)\n"
        "except OSError as error:\n    print('refused after', len(kids), error.strerror)\n"
        "for pid in kids:\n    os.kill(pid, 9); os.waitpid(pid, 0)\n" % PIDS_LIMIT)
    assert "refused after" in bomb.stdout and "Resource temporarily unavailable" in bomb.stdout, bomb.stdout + bomb.stderr
    refused_after = int(bomb.stdout.split()[2])
    assert PIDS_LIMIT // 2 < refused_after < PIDS_LIMIT, bomb.stdout  # the server's own threads count too
    assert hub.host.ssh("true").returncode == 0  # the host still answers
    # What a DataLoader does with its workers: processes passing data through shared memory.
    workers = in_alice("import multiprocessing as mp\nfrom multiprocessing import shared_memory\n"
                       "def work(i):\n    block = shared_memory.SharedMemory(create=True, size=1 << 20)\n"
                       "    block.buf[0] = i; value = block.buf[0]; block.close(); block.unlink(); return value\n"
                       "with mp.Pool(4) as pool:\n    print(sum(pool.map(work, range(8))))\n")
    assert workers.stdout.strip() == "28", workers.stdout + workers.stderr
    # TensorBoard, started by the user in their TensorFlow server, serves them.
    hub.host.ssh("docker exec -d -u jovyan jupyter-alice sh -c"
                 " 'tensorboard --logdir /tmp/runs --host 127.0.0.1 --port 6006 > /tmp/tensorboard.log 2>&1'")
    fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:6006/', timeout=5).status)"
    deadline = time.monotonic() + 90
    while in_alice(fetch).stdout.strip() != "200":
        if time.monotonic() > deadline:
            raise AssertionError("TensorBoard never answered: " + hub.host.ssh(
                "docker exec jupyter-alice tail -20 /tmp/tensorboard.log", check=False).stdout)
        time.sleep(1)


def test_stopping_a_server_removes_its_container_but_not_the_files(hub, browser):
    # What `pip install --user` and JupyterLab write outside ~/work: the home is a volume of its own.
    hub.host.ssh("docker exec -u jovyan jupyter-alice sh -c 'mkdir -p ~/.local/lib && echo kept > ~/.local/lib/marker'")
    page = log_in(browser, hub, "alice", hub.alice_password)
    page.goto(hub.url("/hub/home"), wait_until="networkidle")  # the button's script is loaded
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/hub/api/users/alice/server")
                              and r.request.method == "DELETE"):
        page.click("#stop")
    deadline = time.monotonic() + 120
    while hub.host.ssh("docker ps -aq --filter name=^jupyter-alice$").stdout.strip():
        assert time.monotonic() < deadline, "alice's container was not removed"
        time.sleep(1)
    assert hub.host.ssh(f"cat {HOMES}/alice/hello.txt").stdout == "hello from alice"


def test_an_image_missing_on_the_host_is_never_pulled_from_a_registry(hub, browser):
    """Anyone can publish an image named like the ones built here on Docker Hub: one missing on the
    host must fail the start, not be pulled and run."""
    image = f"{testbed._default('image_owner')}/scipy-notebook:latest"
    hub.host.ssh(f"docker image tag {image} {image}-kept && docker image rm {image}")
    try:
        page = log_in(browser, hub, "alice", hub.alice_password)
        started = api(page, "POST", "/hub/api/users/alice/server", {"image": "Python (SciPy)"})
        assert started["status"] >= 400, started
        logs = hub.host.ssh(f"docker logs {HUB} 2>&1").stdout
        assert f"No such image: {image}" in logs, logs[-3000:]
        assert not re.search(rf"pulling (image )?{re.escape(image)}", logs), logs[-3000:]
        assert not hub.host.ssh("docker ps -aq --filter name=^jupyter-alice$").stdout.strip()
    finally:
        hub.host.ssh(f"docker image tag {image}-kept {image} && docker image rm {image}-kept")


def test_a_rerun_changes_nothing_and_leaves_the_hub_running(hub):
    before = hub.hub_container_id()
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert run.changed_operations() == []
    assert hub.hub_container_id() == before


def test_a_changed_setting_recreates_the_hub_and_keeps_accounts_and_files(hub, browser):
    before = hub.hub_container_id()
    hub.settings["user_mem_limit"] = "6G"
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert "Run the Hub on port 8000" in run.changed_operations()
    assert "Create the Hub's declared accounts (admin, alice, bob)" not in run.changed_operations()
    assert hub.hub_container_id() != before

    page = log_in(browser, hub, "alice", hub.alice_password)  # the same password still works
    start_server(page, hub, "alice", "Python (SciPy)")
    assert "hello.txt" in list_folder(page, "alice", "work")
    assert hub.inspect("jupyter-alice", "{{.HostConfig.Memory}}") == str(6 * 1024**3)
    # The home outside ~/work came back with the new container.
    assert hub.host.ssh("docker exec jupyter-alice cat /home/jovyan/.local/lib/marker").stdout == "kept\n"
    assert hub.deploy().changed_operations() == []


def test_a_new_hub_image_backs_up_the_database_first(hub):
    # A new base image for the Hub (the same Debian under another tag: a quick rebuild) is an
    # upgrade of the Hub's image, as a new jupyterhub_version would be.
    base = hub.settings["hub_base_image"]
    renamed = f"{base.rsplit(':', 1)[0]}:upgraded"
    hub.host.ssh(f"docker tag {base} {renamed}")
    hub.settings["hub_base_image"] = renamed
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert "The Hub's image changes: backing up its database to" in run.output
    folder = "/home/jupyterhub/JupyterHubGPU/data/backups"
    backups = hub.host.ssh(f"ls {folder}").stdout.split()
    assert len(backups) == 1 and re.fullmatch(r"jupyterhub-\d{8}T\d{6}Z\.sqlite", backups[0]), backups
    # A complete database (SQLite's online backup): every account is in it, and root's alone.
    count = hub.host.ssh(f"python3 -c \"import sqlite3; print(sqlite3.connect('{folder}/{backups[0]}')"
                         ".execute('select count(*) from users').fetchone()[0])\"").stdout
    assert int(count) >= 3
    assert hub.host.ssh(f"stat -c '%U %a' {folder}").stdout.strip() == "root 700"


def test_a_redeploy_that_recreates_the_hub_keeps_running_servers_and_their_kernels(hub, browser):
    import threading
    import urllib.error
    import urllib.request

    page = log_in(browser, hub, "alice", hub.alice_password)
    page.goto(hub.url("/user/alice/lab"))
    page.wait_for_selector(".jp-LabShell", timeout=120_000)
    kernel = api(page, "POST", "/user/alice/api/kernels", {})
    assert kernel["status"] == 201, kernel
    kernel_id = __import__("json").loads(kernel["text"])["id"]
    server_before, hub_before = hub.inspect("jupyter-alice", "{{.Id}}"), hub.hub_container_id()

    # While the Hub is recreated, a user's request to their server every 0.2 s: the outage is
    # the longest stretch without an answer from it.
    answers, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                urllib.request.urlopen(hub.url("/user/alice/api"), timeout=2)
                answered = True
            except urllib.error.HTTPError as error:
                answered = error.code not in (502, 503, 504)  # the server answered (e.g. 403), not the proxy
            except OSError:
                answered = False
            answers.append((time.monotonic(), answered))
            time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    hub.settings["idle_cull_timeout"] = 7200
    try:
        run = hub.deploy()
        deadline = time.monotonic() + 60
        while not (answers and answers[-1][1]) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        poller.join()
    assert run.returncode == 0, run.output[-6000:]
    assert hub.hub_container_id() != hub_before
    assert hub.inspect("jupyter-alice", "{{.Id}}") == server_before  # the same container, never stopped
    assert api(page, "GET", f"/user/alice/api/kernels/{kernel_id}")["status"] == 200  # the kernel answers
    outage, down_since = 0.0, None
    for moment, answered in answers:
        if not answered and down_since is None:
            down_since = moment
        elif answered and down_since is not None:
            outage, down_since = max(outage, moment - down_since), None
    print(f"\nredeploy outage for a running user's server: {outage:.1f} s")


def test_an_admin_adds_a_user_who_signs_up_and_changes_their_password(hub, browser):
    admin = log_in(browser, hub, "admin", hub.generated_passwords()["admin"])
    admin.goto(hub.url("/hub/admin"))
    # What the admin panel's "Add Users" button sends, with the page's own XSRF token.
    added = admin.evaluate("""async () => {
        const response = await fetch(`/hub/api/users?_xsrf=${window.jhdata.xsrf_token}`, {method: "POST",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify({usernames: ["carol"], admin: false})});
        return response.status;
    }""")
    assert added == 201

    password = secrets.token_urlsafe(12)
    sign_up(browser, hub, "carol", password)
    # A sign-up never lets itself in, even under a name the admin added: anyone could have made
    # it. The admin approves it, seeing it pending.
    with pytest.raises(AssertionError, match="carol could not log in"):
        log_in(browser, hub, "carol", password)
    admin.goto(hub.url("/hub/authorize"))
    assert "carol" in admin.inner_text("body")
    admin.goto(hub.url("/hub/authorize/carol"))
    carol = log_in(browser, hub, "carol", password)

    new_password = secrets.token_urlsafe(12)  # users change their own password
    carol.goto(hub.url("/hub/change-password"))
    carol.fill("#old_password_input", password)
    carol.fill("#new_password_input", new_password)
    carol.fill("#new_password_confirmation_input", new_password)
    carol.click("#signup_submit")
    carol.wait_for_load_state()
    log_in(browser, hub, "carol", new_password)
    with pytest.raises(AssertionError, match="carol could not log in"):
        log_in(browser, hub, "carol", password)

    sign_up(browser, hub, "mallory", password)  # nobody added this name
    with pytest.raises(AssertionError, match="mallory could not log in"):
        log_in(browser, hub, "mallory", password)


def post_sign_up(browser: Browser, hub: Hub, username: str, password: str) -> str:
    """Post NativeAuthenticator's sign-up form with any username (newlines included), as a
    script would; return the page's message."""
    page = browser.new_context().new_page()
    page.goto(hub.url("/hub/signup"))
    return page.evaluate("""async ([username, password]) => {
        const form = new URLSearchParams({_xsrf: document.querySelector("input[name=_xsrf]").value, username,
            signup_password: password, signup_password_confirmation: password});
        const response = await fetch("/hub/signup", {method: "POST", body: form});
        return await response.text();
    }""", [username, password])


def test_nobody_can_sign_up_under_a_declared_name(hub, browser):
    stranger = secrets.token_urlsafe(12)
    post_sign_up(browser, hub, "admin", stranger)
    with pytest.raises(AssertionError, match="admin could not log in"):
        log_in(browser, hub, "admin", stranger)
    # Nor under a declared account an admin deleted: the name stays the deploy's.
    admin = log_in(browser, hub, "admin", hub.generated_passwords()["admin"])
    admin.goto(hub.url("/hub/admin"))
    deleted = admin.evaluate("""async () => (await fetch(`/hub/api/users/bob?_xsrf=${window.jhdata.xsrf_token}`,
        {method: "DELETE"})).status""")
    assert deleted == 204
    post_sign_up(browser, hub, "bob", stranger)
    with pytest.raises(AssertionError, match="bob could not log in"):
        log_in(browser, hub, "bob", stranger)


def hub_accounts(hub) -> dict:
    import json

    listed = hub.host.ssh(f"docker exec {HUB} jupytergpu-hub-accounts sqlite:////srv/jupyterhub/data/jupyterhub.sqlite list")
    return {account["name"]: account["authorized"] for account in json.loads(listed.stdout)}


def test_a_newline_in_a_sign_up_hides_no_name_and_pending_rows_are_replaced(hub, browser):
    """The takeover: a sign-up as "x\\nerin" must not make the deploy believe erin exists; a
    pending row under a name the admin then declares (frank, signed up before it was declared)
    is replaced by the declared account, and so is an approved sign-up the deploy did not make
    (carol, added in the admin panel, signed up and approved in an earlier test)."""
    stranger = secrets.token_urlsafe(12)
    post_sign_up(browser, hub, "x\nerin", stranger)
    post_sign_up(browser, hub, "frank", stranger)
    accounts = hub_accounts(hub)
    assert not any("\n" in name for name in accounts)  # refused by the username pattern
    assert accounts["frank"] is False  # pending: nobody authorized it

    assert accounts["carol"] is True  # approved by the admin
    hub.settings["hub_users"] = ["alice", "bob", "carol", "erin", "frank"]
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert "Replacing sign-up(s) the deploy did not make under declared account name(s) carol, frank" in run.output
    generated = hub.generated_passwords()
    assert {"carol", "erin", "frank", "bob"} <= set(generated)  # bob, deleted by the admin, is back too
    assert "carol" in hub.host.ssh("cat /home/jupyterhub/JupyterHubGPU/data/created-accounts.json").stdout
    for name in ("carol", "erin", "frank", "bob"):
        log_in(browser, hub, name, generated[name])
        with pytest.raises(AssertionError, match=f"{name} could not log in"):
            log_in(browser, hub, name, stranger)
    assert hub.deploy().changed_operations() == []


def test_removing_a_declared_name_revokes_admin_rights_and_blocks_the_login(hub, browser):
    generated = hub.generated_passwords()
    hub.settings.update(hub_admin_users=["admin", "erin"], hub_users=["alice", "bob", "frank"])
    assert hub.deploy().returncode == 0
    assert log_in(browser, hub, "erin", generated["erin"]).goto(hub.url("/hub/admin")).status == 200

    # erin goes back to a plain user, frank leaves: his login is blocked, alice's files stay.
    hub.settings.update(hub_admin_users=["admin"], hub_users=["alice", "bob", "erin"])
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert log_in(browser, hub, "erin", generated["erin"]).goto(hub.url("/hub/admin")).status == 403
    with pytest.raises(AssertionError, match="frank could not log in"):
        log_in(browser, hub, "frank", generated["frank"])
    hub.settings.update(hub_users=["bob", "erin"], hub_passwords={})  # alice leaves too
    assert hub.deploy().returncode == 0
    with pytest.raises(AssertionError, match="alice could not log in"):
        log_in(browser, hub, "alice", hub.alice_password)
    assert hub.host.ssh(f"cat {HOMES}/alice/hello.txt").stdout == "hello from alice"
    assert hub.deploy().changed_operations() == []


def test_a_crash_looping_hub_is_recreated(hub):
    """Docker reports a container that restarts again and again as running between crashes."""
    before = hub.hub_container_id()
    hub.host.ssh(f"docker exec {HUB} chmod -x /opt/jupyterhub/bin/jupyterhub; docker restart {HUB}", check=False)
    hub.wait_for_hub(answering=False)
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert "Run the Hub on port 8000" in run.changed_operations()
    assert hub.hub_container_id() != before
    hub.wait_for_hub(answering=True)


def test_a_hand_edited_config_is_restored_and_the_hub_rereads_it(hub):
    config = "/home/jupyterhub/JupyterHubGPU/jupyterhub_config.py"
    hub.host.ssh(f"echo 'c.JupyterHub.log_level = \"DEBUG\"' >> {config} && docker restart {HUB}")
    hub.wait_for_hub(answering=True)
    before = hub.hub_container_id()
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert {"Write jupyterhub_config.py", "Run the Hub on port 8000"} <= set(run.changed_operations())
    assert "DEBUG" not in hub.host.ssh(f"cat {config}").stdout
    assert hub.hub_container_id() != before
    assert hub.deploy().changed_operations() == []


@pytest.mark.parametrize("change, message", [
    ({"compose_project_name": "lab2"},
     "another Hub, container jupyterhub-hub of Compose project 'jupyterhub', is on this host"),
    ({"jupyterhub_root": "/srv/hub2"},
     "jupyterhub_root moved from /home/jupyterhub/JupyterHubGPU to /srv/hub2, but the Hub's database"),
    ({"users_home_root": "/srv/homes2"},
     "users_home_root moved from /home/jh_users to /srv/homes2, but the users' files are in /home/jh_users"),
])
def test_settings_that_would_orphan_data_or_start_a_second_hub_are_refused(hub, change, message):
    before = hub.hub_container_id()
    run = run_pyinfra(write_inventory(hub.tmp / "moved.py", hub.host, **{**hub.settings, **change}))
    assert run.returncode != 0 and message in run.output, run.output[-4000:]
    assert hub.hub_container_id() == before  # the Hub and its data untouched
    assert hub.host.ssh("docker ps -q --filter label=org.jupytergpu.hub-config-digest | wc -l").stdout.strip() == "1"
    assert hub.host.ssh("ls /srv", check=False).stdout.strip() == ""


OUTSIDE = "198.51.100.2"  # a documentation address, in a network namespace of the test-bed host's own


def test_users_containers_cannot_reach_a_blocked_address(hub):
    """user_blocked_addresses, tried on a web server outside the Hub's network: in a network
    namespace this test makes on the host, routed like any address beyond it (the default, the
    cloud metadata service, is never contacted by a test)."""
    network, image = "jupyterhub-network", "jupytergpu/hub:latest"
    hub.host.ssh(
        "ip netns add outside && ip link add veth-outside type veth peer name veth-inside"
        " && ip link set veth-inside netns outside && ip addr add 198.51.100.1/30 dev veth-outside"
        " && ip link set veth-outside up && ip netns exec outside ip addr add 198.51.100.2/30 dev veth-inside"
        " && ip netns exec outside ip link set veth-inside up && ip netns exec outside ip link set lo up"
        " && ip netns exec outside ip route add default via 198.51.100.1"
        " && (setsid ip netns exec outside python3 -m http.server 8080 >/dev/null 2>&1 < /dev/null &)")

    def reachable() -> bool:
        fetch = f"import urllib.request; urllib.request.urlopen('http://{OUTSIDE}:8080', timeout=5)"
        return hub.host.ssh(f"docker run --rm --network {network} --entrypoint python3 {image} -c \"{fetch}\"",
                            check=False).returncode == 0

    def wait_reachable() -> None:
        deadline = time.monotonic() + 60
        while not reachable():
            assert time.monotonic() < deadline, f"the test's own server at {OUTSIDE} never answered"
            time.sleep(1)

    try:
        wait_reachable()
        hub.settings["user_blocked_addresses"] = ["169.254.169.254", OUTSIDE]
        run = hub.deploy()
        assert run.returncode == 0, run.output[-6000:]
        assert "Write the rules that wall users' containers in" in run.changed_operations()
        assert not reachable()

        # As after a reboot: Docker starts anew (the Hub may get another address), and the unit
        # puts the rules back for the Hub network's bridge.
        hub.host.ssh("systemctl restart docker")
        hub.wait_for_hub(answering=True, seconds=120)
        assert f"-A JUPYTERHUB-EGRESS -d {OUTSIDE}/32 -j REJECT" in hub.host.ssh("iptables -S JUPYTERHUB-EGRESS").stdout
        assert "-A DOCKER-USER -i jupyterhub-br -j JUPYTERHUB-EGRESS" in hub.host.ssh("iptables -S DOCKER-USER").stdout
        assert not reachable()
        assert hub.deploy().changed_operations() == []

        # The admin takes the Hub down and up again with Compose, no deploy, no servers running:
        # the network stays (the deploy made it, Compose only uses it), and so do the walls.
        network_id = hub.host.ssh(f"docker network inspect --format '{{{{.Id}}}}' {network}").stdout
        hub.host.ssh("docker ps -q --filter name=^jupyter- | xargs -r docker rm -f >/dev/null")
        compose = "$(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)"
        hub.host.ssh(f"cd /home/jupyterhub/JupyterHubGPU && {compose} down && {compose} up -d")
        hub.wait_for_hub(answering=True, seconds=120)
        assert hub.host.ssh(f"docker network inspect --format '{{{{.Id}}}}' {network}").stdout == network_id
        assert not reachable()

        hub.settings["user_blocked_addresses"] = ["169.254.169.254"]
        assert hub.deploy().returncode == 0
        wait_reachable()
    finally:
        hub.host.ssh("ip netns pids outside | xargs -r kill; ip netns del outside; ip link del veth-outside", check=False)


@pytest.mark.parametrize("restart", ["the Docker daemon", "the whole host"])
def test_the_hub_comes_back_by_itself_with_every_account_and_file(hub, browser, restart):
    generated = hub.generated_passwords()
    files = (f"find {HOMES} /home/jh_teams /home/jupyterhub/JupyterHubGPU/data -type f -not -name '*.sqlite*'"
             " -exec stat -c '%u %g %a %n' {} + -exec sha256sum {} + | sort")
    before = hub.host.ssh(files).stdout
    if restart == "the Docker daemon":
        hub.host.ssh("systemctl restart docker")
    else:  # the test-bed host's container restarts: systemd shuts down and boots again
        testbed.docker("restart", hub.host.name)
        hub.host.wait_ready()
    hub.wait_for_hub(answering=True, seconds=180)
    for user in ("admin", "bob", "erin"):  # every declared account
        log_in(browser, hub, user, generated[user])
    assert hub.host.ssh(files).stdout == before
    assert hub.deploy().changed_operations() == []


def test_wrong_passwords_in_a_row_lock_the_account_for_a_while(hub, browser):
    """Last in this module: bob stays locked for hub_login_lockout_seconds."""
    generated = hub.generated_passwords()
    password = generated["bob"]
    log_in(browser, hub, "bob", password)
    for attempt in range(5):  # hub_login_attempts' default
        with pytest.raises(AssertionError, match="bob could not log in"):
            log_in(browser, hub, "bob", f"a guess {attempt}")
    # Now even the right password is refused: guessing over the network stalls.
    with pytest.raises(AssertionError, match="bob could not log in"):
        log_in(browser, hub, "bob", password)
    log_in(browser, hub, "erin", generated["erin"])  # others are not locked out
