# The chain's root image plus the site's extra CA certificates (setting build_ca_certificates),
# so that every image built on top trusts a TLS-intercepting proxy without editing its Dockerfile.
ARG ROOT_IMAGE
FROM ${ROOT_IMAGE}
USER root
COPY extra-ca-certificates.crt /usr/local/share/ca-certificates/extra-ca-certificates.crt
# Append to the system bundle now (it may not exist yet: then it starts with these); a later
# `update-ca-certificates` (installing ca-certificates) keeps them, as they sit in /usr/local.
RUN mkdir -p /etc/ssl/certs \
 && cat /usr/local/share/ca-certificates/extra-ca-certificates.crt >> /etc/ssl/certs/ca-certificates.crt
# Tools that keep their own CA list: pip, requests, OpenSSL users, curl, conda, mamba, node.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    CONDA_SSL_VERIFY=/etc/ssl/certs/ca-certificates.crt \
    MAMBA_SSL_VERIFY=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/extra-ca-certificates.crt
