"""The system user that owns the Hub's files and users' folders. Not in the docker group: that
group is root on the host, and nothing runs as this user; the Hub reaches Docker from its own
container, through the socket Compose gives it."""

import shlex

from pyinfra import host
from pyinfra.facts.server import Users
from pyinfra.operations import server

user = host.data.jupyterhub_user

server.group(name=f"Create group {user}", group=user, system=True)
server.user(
    name=f"Create system user {user}",
    user=user,
    group=user,
    system=True,
    home=f"/home/{user}",
    create_home=True,
    shell="/usr/sbin/nologin",
)
if "docker" in (host.get_fact(Users).get(user) or {}).get("groups", []):  # an older deploy put it there
    server.shell(name=f"Take {user} out of the docker group", commands=[f"gpasswd -d {shlex.quote(user)} docker"])
