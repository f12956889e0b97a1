"""Using a deployed Hub as a person does: a headless Chromium session per user (the `browser`
fixture is in conftest.py). `hub` is any object whose url(path) gives the Hub's address."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from playwright.sync_api import Browser, Error, Page, TimeoutError

# Test modules run side by side (tests/side_by_side.py): another module's containers come and go,
# adding and removing network interfaces on this machine, and Chromium aborts a navigation under
# way when it sees the machine's network change (net::ERR_NETWORK_CHANGED). Navigations are
# retried then; any other error stands.
_goto = Page.goto


def _goto_through_network_changes(self, url, **kwargs):
    for attempt in range(4):
        try:
            return _goto(self, url, **kwargs)
        except Error as error:
            if "ERR_NETWORK_CHANGED" not in str(error) or attempt == 3:
                raise
            time.sleep(1)


Page.goto = _goto_through_network_changes

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright, args: tuple[str, ...] = (), home: Path | None = None) -> Browser:
    """Debian's Chromium, headless. `home`: its HOME, whose NSS database (.pki/nssdb) holds the
    certificate authorities it trusts beyond the system's (see trust_roots)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    env = {**os.environ, "HOME": str(home)} if home else None
    return playwright.chromium.launch(executable_path=chromium, args=[*CHROMIUM_FLAGS, *args], env=env)


def trust_roots(home: Path, roots: dict[str, str]) -> Path:
    """An NSS database in `home` trusting these CA certificates (name -> PEM), as a person who
    installed them would have; Chromium on Linux reads it."""
    database = home / ".pki" / "nssdb"
    if not database.is_dir():
        database.mkdir(parents=True)
        subprocess.run(["certutil", "-d", f"sql:{database}", "-N", "--empty-password"], check=True)
    for name, pem in roots.items():
        certificate = home / f"{name}.pem"
        certificate.write_text(pem)
        subprocess.run(["certutil", "-d", f"sql:{database}", "-A", "-t", "C,,", "-n", name, "-i", str(certificate)],
                       check=True)
    return home


def log_in(browser: Browser, hub, user: str, password: str) -> Page:
    """A fresh browser session (no cookies) logged in as `user`."""
    page = browser.new_context().new_page()
    page.set_default_timeout(120_000)
    for _attempt in range(3):
        page.goto(hub.url("/hub/login"))
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_load_state()
        if not page.url.startswith("chrome-error://"):  # the form's navigation cut by a network change (above)
            break
    assert "/hub/login" not in page.url, f"{user} could not log in: {page.inner_text('body')[:500]}"
    return page


class UserPages:
    """One logged-in browser session per user, kept: for a hub object with `passwords` and url()."""

    def page(self, browser: Browser, user: str) -> Page:
        """`user`, logged in, on the Hub's home page (so the Hub's API takes the page's cookies)."""
        pages = self.__dict__.setdefault("_pages", {})
        if user not in pages:
            pages[user] = log_in(browser, self, user, self.passwords[user])
        pages[user].goto(self.url("/hub/home"))
        return pages[user]


def sign_up(browser: Browser, hub, user: str, password: str) -> None:
    """Fill in NativeAuthenticator's sign-up form in a fresh browser session."""
    page = browser.new_context().new_page()
    page.goto(hub.url("/hub/signup"))
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.fill("#password_confirmation_input", password)
    page.click("#signup_submit")
    page.wait_for_load_state()


def start_server(page: Page, hub, user: str, image: str | None) -> None:
    """Pick an image on the spawn page (None: the Hub offers one, and starts it without asking)
    and wait for JupyterLab."""
    if "/hub/spawn" not in page.url:
        page.goto(hub.url("/hub/spawn"))
    if image is not None:
        page.select_option("select[name=image]", label=image)
        page.click("button[type=submit]")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    try:
        page.wait_for_selector(".jp-LabShell", timeout=120_000)
    except TimeoutError:  # JupyterLab's page load cut by a network change (see above): load it again
        page.reload()
        page.wait_for_selector(".jp-LabShell", timeout=120_000)


def api(page: Page, method: str, path: str, body: dict | None = None) -> dict:
    """Call the Jupyter server's REST API from the page, with its cookies and XSRF token, as
    JupyterLab itself does."""
    return page.evaluate("""async ([method, path, body]) => {
        const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
        const response = await fetch(path, {method, headers: {"X-XSRFToken": xsrf,
            "Content-Type": "application/json"}, body: body ? JSON.stringify(body) : undefined});
        return {status: response.status, text: await response.text()};
    }""", [method, path, body])


def write_file(page: Page, user: str, path: str, text: str) -> dict:
    return api(page, "PUT", f"/user/{user}/api/contents/{path}",
               {"type": "file", "format": "text", "content": text})


def list_folder(page: Page, user: str, path: str) -> list[str]:
    result = api(page, "GET", f"/user/{user}/api/contents/{path}")
    assert result["status"] == 200, result
    return [entry["name"] for entry in json.loads(result["text"])["content"]]


def read_file(page: Page, user: str, path: str) -> str:
    """A text file's content, through the user's server (as JupyterLab opens it)."""
    result = api(page, "GET", f"/user/{user}/api/contents/{path}?type=file&format=text&content=1")
    assert result["status"] == 200, result
    return json.loads(result["text"])["content"]
