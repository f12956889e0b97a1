"""HTTPS for the Hub (hub_tls): the proxy's folders, the certificate files, its image. The proxy
itself runs beside the Hub in its Compose project (tasks/hub.py); what it is is decided in
jhgpu/tls.py."""

from pyinfra import host
from pyinfra.facts.server import Hostname
from pyinfra.operations import files

from jhgpu.operations.docker import docker_image_present
from jhgpu.tls import https_url, proxy_plan

proxy = proxy_plan(host.data, host.get_fact(Hostname))
if proxy:
    # Root's alone: private keys, the ACME account key and the local CA's key live here.
    files.directory(name="Create the HTTPS proxy's folder", path=proxy.directory, user="root", group="root",
                    mode="755")
    for folder in ("tls", "data"):
        files.directory(name=f"Create the HTTPS proxy's {folder} folder", path=f"{proxy.directory}/{folder}",
                        user="root", group="root", mode="700")
    for local, name in proxy.uploads.items():
        files.put(name=f"Upload {local} for the HTTPS proxy", src=local, dest=f"{proxy.directory}/tls/{name}",
                  user="root", group="root", mode="600")
    docker_image_present(name=f"Pull {host.data.proxy_image}", ref=host.data.proxy_image)
    host.log(f"The Hub: {https_url(host.data, proxy)}")
    if host.data.hub_tls == "internal":
        host.log(f"HTTPS from the proxy's own CA: to stop browsers warning, have users trust its root "
                 f"certificate, {proxy.internal_root} on the server (made when the proxy first starts)")
