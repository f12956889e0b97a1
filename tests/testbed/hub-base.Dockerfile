# Stands in for the official JupyterHub image (quay.io/jupyterhub/jupyterhub), which cannot be
# pulled on the test bed: the same layout (the system's python3 with JupyterHub, Debian's
# configurable-http-proxy, /srv/jupyterhub) and the JupyterHub version hub_base_image pins.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG JUPYTERHUB_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-pip node-configurable-http-proxy ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# The test machine's CA bundle: PyPI is reached through the site's TLS proxy.
COPY build-ca-certificates.crt /tmp/build-ca-certificates.crt
RUN PIP_CERT=/tmp/build-ca-certificates.crt python3 -m pip install --break-system-packages --no-cache-dir \
      "jupyterhub==${JUPYTERHUB_VERSION}" \
 && rm /tmp/build-ca-certificates.crt
WORKDIR /srv/jupyterhub
EXPOSE 8000
CMD ["jupyterhub"]
