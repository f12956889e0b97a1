"""Logins from the lab's LDAP directory, end to end (hub_auth = "ldap").

A real OpenLDAP server from Debian's slapd package (tests/testbed/ldap.py) runs on the Hub's
test-bed host, on the Hub's network as ldap.lab.test, with StartTLS under a test CA's certificate;
the deploy is given that CA (ldap_ca_certificate). The server first runs the Hub with native
accounts, then switches to the directory, as a lab would. Headless Chromium logs in at the Hub's
own login page with directory passwords. The image offered is a one-line stand-in: logins, not
servers, are under test here.
"""

from __future__ import annotations

import json
import secrets

import pytest

from conftest import DeployedHub
from hub_browser import log_in
from testbed import acme, ldap, testbed

pytestmark = pytest.mark.e2e

PEOPLE = {name: secrets.token_urlsafe(12) for name in ("alice", "bob", "carol", "dave")}
NATIVE_PASSWORD = secrets.token_urlsafe(12)  # bob's, in the Hub's own accounts before the switch
GROUPS = {"vision": ["alice", "carol"], "nlp": ["bob"], "gpu-admins": ["carol"], "alumni": ["dave"]}


@pytest.fixture(scope="module")
def hub(fresh_host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ldap")
    settings = testbed.testbed_settings(tmp)
    hub = DeployedHub(fresh_host, tmp, {
        **settings, "gpu_enabled": False, "notebook_images": [testbed.tiny_image(tmp)],
        "preload_images": [*settings["preload_images"], testbed._archive(ldap.image(), tmp)],
        "hub_admin_users": [], "hub_users": ["bob"], "hub_passwords": {"bob": NATIVE_PASSWORD}})
    # Before the directory: the Hub's own accounts.
    run = hub.deploy()
    assert run.returncode == 0, run.output[-6000:]
    # The directory, with its CA as the lab would hand it over, on the Hub's network; then the switch.
    tls = ldap.certificates(tmp)
    ldap.serve(fresh_host, tmp, "jupyterhub-network", PEOPLE, GROUPS, tls)
    hub.settings.update({
        "hub_auth": "ldap", "ldap_server": ldap.DOMAIN, "ldap_tls": "starttls", "ldap_ca_certificate": str(tls["ca"]),
        "ldap_bind_dn_template": f"uid={{username}},{ldap.PEOPLE}", "ldap_group_search_base": ldap.GROUPS,
        "ldap_allowed_groups": ["vision", "nlp", "gpu-admins"], "ldap_admin_groups": ["gpu-admins"],
        "hub_users": [], "hub_passwords": {}})
    hub.first_run = hub.deploy()
    assert hub.first_run.returncode == 0, hub.first_run.output[-6000:]
    return hub


def user_model(page, name: str) -> dict:
    """The Hub's REST API view of `name`, as the logged-in admin's page sees it."""
    answer = page.evaluate("""async (name) => {
        const response = await fetch(`/hub/api/users/${name}`, {headers: {"X-XSRFToken": window.jhdata
            ? window.jhdata.xsrf_token : ""}});
        return {status: response.status, text: await response.text()};
    }""", name)
    assert answer["status"] == 200, answer
    return json.loads(answer["text"])


def test_a_directory_user_logs_in_with_the_directorys_password(hub, browser):
    try:
        page = log_in(browser, hub, "alice", PEOPLE["alice"])
    except AssertionError as error:  # the Hub's log says why
        raise AssertionError(f"{error}\n{hub.host.ssh('docker logs --tail 40 jupyterhub-hub 2>&1').stdout}") from None
    assert page.goto(hub.url("/hub/admin")).status == 403  # not an admin
    with pytest.raises(AssertionError, match="alice could not log in"):
        log_in(browser, hub, "alice", PEOPLE["bob"])  # a wrong password


def test_someone_in_no_allowed_group_is_refused(hub, browser):
    with pytest.raises(AssertionError, match="dave could not log in"):
        log_in(browser, hub, "dave", PEOPLE["dave"])  # in the directory, in alumni only


def test_an_admin_groups_member_is_admin_and_sees_everyones_groups(hub, browser):
    log_in(browser, hub, "bob", PEOPLE["bob"])
    carol = log_in(browser, hub, "carol", PEOPLE["carol"])
    assert carol.goto(hub.url("/hub/admin")).status == 200
    assert user_model(carol, "carol")["admin"] is True
    assert sorted(user_model(carol, "carol")["groups"]) == ["gpu-admins", "vision"]
    assert user_model(carol, "alice")["groups"] == ["vision"]
    assert user_model(carol, "bob")["groups"] == ["nlp"]


def test_no_directory_password_reaches_the_hubs_files_or_a_command_line(hub):
    journal = hub.host.ssh("journalctl --no-pager -o cat").stdout
    files = hub.host.ssh("cat /home/jupyterhub/JupyterHubGPU/jupyterhub_config.py").stdout
    for password in PEOPLE.values():
        assert password not in journal and password not in files
    assert "ssl.CERT_REQUIRED" in files and "ca_certs_file" in files


def test_after_the_switch_the_directory_decides_not_the_old_password(hub, browser):
    # bob had a native account: under LDAP his directory password works, his old one does not
    log_in(browser, hub, "bob", PEOPLE["bob"])
    with pytest.raises(AssertionError, match="bob could not log in"):
        log_in(browser, hub, "bob", NATIVE_PASSWORD)


def test_a_directory_whose_certificate_does_not_verify_is_refused_before_any_change(hub, tmp_path_factory):
    other = acme.test_ca(tmp_path_factory.mktemp("other-ca"), ["elsewhere.test"], name="other")
    run = DeployedHub(hub.host, hub.tmp, {**hub.settings, "ldap_ca_certificate": str(other["ca"])}).deploy()
    assert run.returncode != 0 and run.changed_operations() == [], run.output[-3000:]
    assert f"logins for host '{hub.host.name}' cannot work" in run.output
    assert "setting 'ldap_server': the directory at ldap.lab.test:389 (starttls) does not answer" in run.output
    assert "its certificate does not verify" in run.output


def test_a_rerun_changes_nothing(hub):
    run = hub.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-4000:]
