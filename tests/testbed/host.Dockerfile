# A disposable Debian "server" for the test bed (12 or 13): systemd as PID 1, sshd, sudo, and
# iproute2, as every Debian install has it (priority important; debootstrap's minbase lacks it).
# FROM is the debootstrap base built by testbed.py (no registry is reachable here).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG MIRROR=http://deb.debian.org/debian
ARG SECURITY_MIRROR=http://security.debian.org/debian-security
# Apt sources as Debian's installer writes them (debootstrap writes `<codename> main` alone): main
# and non-free-firmware from the release, its -security and its -updates suites. The installer's
# deb-src lines are left out: only `apt-get source` reads them, and they slow every update.
RUN . /etc/os-release \
 && printf '%s\n' \
      "deb ${MIRROR}/ ${VERSION_CODENAME} main non-free-firmware" "" \
      "deb ${SECURITY_MIRROR} ${VERSION_CODENAME}-security main non-free-firmware" "" \
      "# ${VERSION_CODENAME}-updates, to get updates before a point release is made;" \
      "deb ${MIRROR}/ ${VERSION_CODENAME}-updates main non-free-firmware" \
      > /etc/apt/sources.list
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus openssh-server sudo ca-certificates python3 iproute2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && install -d -m 0700 /root/.ssh \
 && rm -f /etc/ssh/ssh_host_* \
 && systemctl enable ssh \
 # Host keys are made at first boot, so every disposable host gets its own.
 && printf '[Unit]\nBefore=ssh.service\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n' \
      > /etc/systemd/system/ssh-hostkeys.service \
 && systemctl enable ssh-hostkeys \
 # A test-bed quirk, not a setting for real servers: Docker 26 (Debian 13) fails to disable IPv6
 # in containers of a nested host unless told to carry on (Docker 20.10 ignores the variable).
 && mkdir -p /etc/systemd/system/docker.service.d \
 && printf '[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n' \
      > /etc/systemd/system/docker.service.d/testbed-nested-ipv6.conf \
 # Units that make no sense in a container and only slow the boot.
 && systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target \
      systemd-logind.service console-getty.service
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
