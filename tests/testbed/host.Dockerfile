# A disposable Debian 12 "server" for the test bed: systemd as PID 1, sshd, sudo.
# FROM is the debootstrap base built by testbed.py (no registry is reachable here).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus openssh-server sudo ca-certificates python3 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && install -d -m 0700 /root/.ssh \
 && rm -f /etc/ssh/ssh_host_* \
 && systemctl enable ssh \
 # Host keys are made at first boot, so every disposable host gets its own.
 && printf '[Unit]\nBefore=ssh.service\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n' \
      > /etc/systemd/system/ssh-hostkeys.service \
 && systemctl enable ssh-hostkeys \
 # Units that make no sense in a container and only slow the boot.
 && systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target \
      systemd-logind.service console-getty.service
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
