"""An OpenLDAP directory for the test bed, from Debian's slapd package: a lab's people and groups,
served with StartTLS under a certificate from a test CA made here.

The image is built once on this machine from the debootstrap base (no registry is reachable) and
preloaded onto the Hub's test-bed host like any image archive; the test runs it in that host's
Docker, on the Hub's network, under the name the Hub is configured with (DOMAIN), so the Hub
reaches it by name and checks the certificate against that name. Its port is published on the
host, which names it in /etc/hosts as a site's DNS would: the deploy checks the directory from
the server before changing anything.
"""

from __future__ import annotations

from pathlib import Path

from testbed import acme, testbed

DOMAIN = "ldap.lab.test"
SUFFIX = "dc=lab,dc=test"
ADMIN_DN, ADMIN_PASSWORD = f"cn=admin,{SUFFIX}", "directory-admin-pw"  # inside the test's directory only
PEOPLE, GROUPS = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"

DOCKERFILE = f"""ARG BASE_IMAGE
FROM $BASE_IMAGE
# Debian's slapd, configured for {SUFFIX} by its own debconf questions, as an admin would answer them.
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
 && printf '%s\\n' 'slapd slapd/no_configuration boolean false' 'slapd slapd/domain string lab.test' \\
      'slapd shared/organization string Lab' 'slapd slapd/password1 password {ADMIN_PASSWORD}' \\
      'slapd slapd/password2 password {ADMIN_PASSWORD}' | debconf-set-selections \\
 && apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils ca-certificates \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY start-directory /usr/local/bin/start-directory
CMD ["/usr/local/bin/start-directory"]
"""

# At start: the TLS files from /tls (mounted), into slapd's configuration; the people and groups
# from /tls/directory.ldif; then slapd in the foreground.
START = f"""#!/bin/sh
set -e
install -o openldap -g openldap -m 600 /tls/server.key /etc/ldap/server.key
install -m 644 /tls/server.pem /etc/ldap/server.pem
install -m 644 /tls/ca.pem /etc/ldap/ca.pem
install -d -o openldap -g openldap /run/slapd  # made by the init script, which a container skips
slapd -h "ldap:/// ldapi:///" -u openldap -g openldap
for _ in $(seq 100); do
    ldapsearch -Q -Y EXTERNAL -H ldapi:/// -b cn=config -s base >/dev/null 2>&1 && break
    sleep 0.2
done
ldapmodify -Q -Y EXTERNAL -H ldapi:/// <<EOF
dn: cn=config
changetype: modify
replace: olcTLSCACertificateFile
olcTLSCACertificateFile: /etc/ldap/ca.pem
-
replace: olcTLSCertificateFile
olcTLSCertificateFile: /etc/ldap/server.pem
-
replace: olcTLSCertificateKeyFile
olcTLSCertificateKeyFile: /etc/ldap/server.key
EOF
ldapadd -x -D {ADMIN_DN} -w {ADMIN_PASSWORD} -f /tls/directory.ldif >/dev/null
touch /tmp/directory-ready
exec sleep infinity
"""


def image() -> str:
    return testbed._standin_image("slapd", DOCKERFILE, {"start-directory": START})


def directory_ldif(people: dict[str, str], groups: dict[str, list[str]]) -> str:
    """`people`: {uid: password}; `groups`: {cn: [uid]} (groupOfNames, members by DN)."""
    entries = [f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
               f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups"]
    for uid, password in people.items():
        entries.append(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
                       f"userPassword: {password}")
    for cn, members in groups.items():
        entries.append(f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n"
                       + "\n".join(f"member: uid={uid},{PEOPLE}" for uid in members))
    return "\n\n".join(entries) + "\n"


def certificates(workdir: Path) -> dict[str, Path]:
    """A test CA and the directory's certificate for DOMAIN (acme.test_ca's files)."""
    return acme.test_ca(workdir, [DOMAIN], name="ldap")


def serve(host, workdir: Path, network: str, people: dict[str, str], groups: dict[str, list[str]],
          tls: dict[str, Path]) -> None:
    """Run the directory in `host`'s Docker on `network`, reachable as DOMAIN, with the
    certificates `tls` (certificates())."""
    (workdir / "directory.ldif").write_text(directory_ldif(people, groups))
    host.ssh("mkdir -p /root/ldap-tls")
    for local, remote in ((tls["certificate"], "server.pem"), (tls["key"], "server.key"), (tls["ca"], "ca.pem"),
                          (workdir / "directory.ldif", "directory.ldif")):
        testbed.docker("cp", str(local), f"{host.name}:/root/ldap-tls/{remote}")
    host.ssh(f"docker run -d --name directory --network {network} --network-alias {DOMAIN} -p 389:389"
             f" -v /root/ldap-tls:/tls:ro {image()} >/dev/null")
    host.ssh(f"grep -q ' {DOMAIN}$' /etc/hosts || echo '127.0.0.1 {DOMAIN}' >> /etc/hosts")
    host.ssh("for _ in $(seq 60); do docker exec directory test -e /tmp/directory-ready && exit 0; sleep 1; done;"
             " docker logs directory; exit 1")
