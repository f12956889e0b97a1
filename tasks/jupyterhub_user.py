"""The system user that owns the Hub's files and may talk to Docker."""

from pyinfra import host
from pyinfra.operations import server

user = host.data.jupyterhub_user

server.group(name=f"Create group {user}", group=user, system=True)
server.user(
    name=f"Create system user {user}, in the docker group",
    user=user,
    group=user,
    groups=["docker"],
    system=True,
    home=f"/home/{user}",
    create_home=True,
    shell="/usr/sbin/nologin",
)
