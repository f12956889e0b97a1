"""Settings reference: every setting of this deploy, its default, and what it does.

Override any of them per host or per group in `inventory.py` (pyinfra host/group data), e.g.
    ("gpu01.example.org", {"shared_data_dir": "/mnt/datasets", "gpu_enabled": False})
Values are checked by `jhgpu/settings.py` before anything on a host changes: an unknown name,
a wrong type or an impossible value stops the deploy with the host's and the setting's name.
"""

# --- Accounts and folders --------------------------------------------------------------------

# System user (and group) that owns the Hub's files. Not in the `docker` group (root on the host).
# An older deploy put it there: it is taken out.
jupyterhub_user = "jupyterhub"

# Folder holding the Hub's files (Dockerfile, config, Compose file, database). Absolute path.
jupyterhub_root = "/home/jupyterhub/JupyterHubGPU"

# One folder per Hub user lives here; it is mounted as that user's ~/work. Absolute path.
users_home_root = "/home/jh_users"

# Data shared read-only with every user (~/SHARED). Must be a folder under /mnt.
shared_data_dir = "/mnt/shared"

# Groups whose members share a writable folder, mounted at ~/teams/<group> in their servers
# only (a group's members from hub_groups, or from the directory with hub_auth "ldap").
team_folders = []
# Where those folders live, one per group (root's, 0700: no host account lists them). Absolute.
team_folders_root = "/home/jh_teams"

# --- Docker ----------------------------------------------------------------------------------

# Where Docker and Compose come from: "distro" (the OS archive: docker.io, plus Compose v2 on
# Ubuntu and Compose v1 `docker-compose` on Debian 12) or "docker-ce" (Docker's own apt
# repository with the Compose plugin).
docker_source = "distro"

# Docker's apt repository, used when docker_source = "docker-ce" (point it at a mirror if needed).
# The OS ("ubuntu" or "debian") is appended, e.g. https://download.docker.com/linux/ubuntu.
docker_ce_repo_url = "https://download.docker.com/linux"

# Compose project name: prefixes the Hub's containers, network and volumes.
compose_project_name = "jupyterhub"

# Image archives (`docker save` output) on the machine running pyinfra, uploaded and
# `docker load`ed on the host when an image they hold is missing there. For air-gapped hosts.
preload_images = []

# --- Hardware and builds ---------------------------------------------------------------------

# True: NVIDIA driver, container runtime and GPU requests for users. False: a CPU-only Hub.
gpu_enabled = True

# A local file of extra CA certificates (PEM) that image builds must trust, for sites behind a
# TLS-intercepting proxy. None: builds trust only the images' own CA bundle.
build_ca_certificates = None

# Packages every host gets before anything else (the deploy itself needs curl, git and gnupg).
base_packages = ["ca-certificates", "curl", "git", "gnupg"]

# --- Notebook image chain ----------------------------------------------------------------------

# The jupyter/docker-stacks repository the images are built from: a git URL, or a git
# repository on the machine running pyinfra (uploaded; for air-gapped hosts).
docker_stacks_repo = "https://github.com/jupyter/docker-stacks.git"

# The docker-stacks commit to build (a full 40-hex SHA; branch names are refused so builds are
# reproducible). This one is upstream main of 2026-07-28 ("Rework Rosetta junk cleanup in all
# images", present in a snapshot of jupyter/docker-stacks taken 2026-11); its images are based
# on Ubuntu 24.04 (noble).
docker_stacks_ref = "c49624e35d4ffa670e5650f623880d1e210d980e"

# Folder (on the machine running pyinfra) of patches applied to the checkout, in name order.
docker_stacks_patches_dir = "files/docker-stacks-patches"

# The CUDA runtime image the chain starts from (docker-stacks' ROOT_IMAGE). It must be built on
# the Ubuntu release the pinned docker-stacks uses (24.04 at the default ref; CUDA images exist
# for 24.04 from CUDA 12.5.1 on: gitlab.com/nvidia/container-images/cuda's README). 12.8.1 is the
# last update of CUDA 12.8, so NVIDIA's tag policy (doc/support-policy.md there) keeps the tag;
# checked 2026-11: public Dockerfiles of 2026 build FROM it. Its CUDA (from the tag) is checked
# against the driver: CUDA 12.8.1 runs on any driver >= 525.60.13 (minor version compatibility)
# and fully from 570.124.06.
notebook_root_image = "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"

# Images are tagged <image_owner>/<name>:latest so they never collide with the official ones.
image_owner = "jupytergpu"

# A build reports which image and step it is on when a step starts and at least this often (s).
build_progress_seconds = 60

# The chain, in build order. Each entry: "name"; "context" (a folder in the docker-stacks
# checkout) or "local_context" (a folder of yours on the machine running pyinfra); "parent"
# (an earlier entry, None for the root image); "build_args" (extra --build-arg values);
# "display_name" (shown in the Hub's image picker; None keeps the image out of it); "cuda" (the
# CUDA version the image brings itself, e.g. in pip wheels, checked against the driver; where
# upstream names it in the context folder, "cuda12" or "cuda13", it is read from there).
# Every image gets the build argument JUPYTERHUB_VERSION (jupyterhub_version) besides OWNER and
# ROOT_IMAGE or BASE_IMAGE; this project's patches install JupyterHub at it from PyPI in
# base-notebook (files/docker-stacks-patches/0002 and 0003 say why not conda-forge).
notebook_images = [
    {"name": "docker-stacks-foundation", "context": "images/docker-stacks-foundation", "parent": None},
    {"name": "base-notebook", "context": "images/base-notebook", "parent": "docker-stacks-foundation"},
    {"name": "minimal-notebook", "context": "images/minimal-notebook", "parent": "base-notebook"},
    {"name": "scipy-notebook", "context": "images/scipy-notebook", "parent": "minimal-notebook",
     "display_name": "Python (SciPy)"},
    # tensorflow[and-cuda], unpinned upstream: TensorFlow 2.21 takes the newest CUDA 12 wheels
    # (>= 12.5, < 13; 12.9 on PyPI today).
    {"name": "tensorflow-notebook", "context": "images/tensorflow-notebook/cuda", "parent": "scipy-notebook",
     "display_name": "TensorFlow (GPU)", "cuda": "12.9"},
    # PyTorch's cu128 wheels (upstream's cuda12 variant); its cuda13 variant (cu130) needs a driver >= 580.
    {"name": "pytorch-notebook", "context": "images/pytorch-notebook/cuda12", "parent": "scipy-notebook",
     "display_name": "PyTorch (GPU)", "cuda": "12.8"},
]

# --- The Hub -----------------------------------------------------------------------------------

# The JupyterHub release of the Hub and of every notebook image's jupyterhub-singleuser (installed
# in base-notebook from PyPI by this project's patches): one version everywhere. 5.5.4 is the
# newest 5.x on PyPI (released 2026-10-20; `pip index versions jupyterhub`, 2026-11); conda-forge
# was last seen at 5.5.0. 6.x changes the database schema and spawn options: move to it
# deliberately. A version PyPI lacks fails base-notebook's build at once, naming it.
jupyterhub_version = "5.5.4"

# The image the Hub's own image is built from: a pinned Debian 13 base, to which the Hub's
# Dockerfile adds Python, Debian's configurable-http-proxy and JupyterHub from PyPI. Chosen over
# the official quay.io/jupyterhub/jupyterhub image because its tags cannot be checked from here,
# and a Debian base is the same release a test bed can build from Debian's archive. The dated
# tag is one Docker's official library lists (docker-library/official-images, library/debian);
# checked 2026-11: public Dockerfiles pin it as debian:trixie-20260803-slim@sha256:3a39a059...
hub_base_image = "debian:trixie-20260803-slim"

# --- HTTPS: a Caddy proxy in front of the Hub -----------------------------------------------------
# How the Hub is served. Users type passwords into it, so plain HTTP is only for an admin who asks:
#   "internal"     HTTPS with a certificate from the proxy's own local CA (the default): encrypted
#                  at once; browsers warn until users trust the CA's root, whose path the deploy
#                  prints (jupyterhub_root/proxy/data/caddy/pki/authorities/local/root.crt);
#   "letsencrypt"  a certificate from acme_ca_url (Let's Encrypt) for hub_domain, renewed by the
#                  proxy; needs hub_domain's DNS pointing at the server and http_port or
#                  https_port reachable from the Internet;
#   "files"        your own certificate and key (tls_certificate_file, tls_key_file);
#   "off"          no proxy: the Hub speaks plain HTTP on hub_port (behind a TLS proxy of yours).
hub_tls = "internal"

# The name users reach the Hub by ("hub.example.org"): required for "letsencrypt". None: with
# "internal", the certificate is for "localhost" and the server's host name.
hub_domain = None

# The e-mail address of the ACME account ("letsencrypt"): Let's Encrypt writes to it about problems.
acme_email = None

# The ACME server's directory. Let's Encrypt's staging directory
# (https://acme-staging-v02.api.letsencrypt.org/directory) for trials, or a private ACME server.
acme_ca_url = "https://acme-v02.api.letsencrypt.org/directory"

# A local PEM file: the CA certificate a private ACME server's HTTPS is signed by. None: the
# proxy trusts the public CAs.
acme_ca_root = None

# Your certificate (full chain, a local PEM file) for hub_tls "files". An expired one, or one not
# for hub_domain (when set), is refused.
tls_certificate_file = None

# Its private key (a local, unencrypted PEM file), uploaded readable by root alone. A key that is
# not the certificate's is refused.
tls_key_file = None

# The host's port for HTTPS (the proxy's).
https_port = 443

# The host's port for plain HTTP, which only redirects to HTTPS and answers Let's Encrypt's HTTP-01
# challenge (which must reach it on port 80, unless https_port is 443 for TLS-ALPN-01).
http_port = 80

# The proxy's image: the official Caddy image, pinned. 2.11.4 (2026-06-02) is the newest tag in
# docker-library/official-images library/caddy ("caddy: v2.11.4 release (#21589)"); it fixes
# GHSA-f59h-q822-g45g, GHSA-qrp7-cvwr-j2c6, GHSA-vcc4-2c75-vc9v and GHSA-j8px-rmrx-76h9, and 2.11.3
# fixed GHSA-m675-2p33-xv9g, GHSA-gx7w-56w6-g48x and GHSA-x5w9-xh9r-mvfc (caddyserver/caddy's
# advisories). A follow-up to GHSA-f59h (commit 947087cad, 2026-08) is in no release yet.
proxy_image = "caddy:2.11.4"

# Port on the host where the Hub listens when hub_tls is "off" (plain HTTP).
hub_port = 8000

# The host's address the proxy's ports (or, with hub_tls "off", the Hub's port) are published on.
# "0.0.0.0": every interface, so every network that reaches the server reaches the Hub; Docker's
# published ports bypass ufw and firewalld rules. "127.0.0.1": this host only, or one address.
hub_bind_address = "0.0.0.0"

# Accounts created with admin rights on the first deploy (each gets a password, see below).
hub_admin_users = ["admin"]

# Accounts created without admin rights on the first deploy. Admins add more in the Hub.
hub_users = []

# Initial passwords, by account name (at least 8 characters). Read them from the environment or
# a secrets file outside the repository in inventory.py. An account missing here gets a generated
# password, written to hub_passwords_file. Changing a password here later changes nothing: users
# change theirs in the Hub (/hub/change-password).
hub_passwords = {}

# File on the host (root's, mode 0600) where generated initial passwords are written.
hub_passwords_file = "/root/jupyterhub-initial-passwords.txt"

# The Hub's groups with hub_auth "native": {"vision": ["alice", "carol"]} (with "ldap", the
# directory's groups). They decide team_folders.
hub_groups = {}

# Wrong passwords in a row after which an account's logins are refused, even with the right
# password, for hub_login_lockout_seconds: guessing passwords over the network stalls. None: no
# lockout. (The Hub counts in memory: a Hub restart clears the count.)
hub_login_attempts = 5
# How long such an account stays locked, in seconds.
hub_login_lockout_seconds = 600

# --- Logins from the lab's directory -------------------------------------------------------------

# Who logs in: "native" (the accounts above and those admins add, passwords kept by the Hub),
# "ldap" (your LDAP directory or Active Directory: its people, passwords and groups) or "oidc"
# (your single sign-on provider: Keycloak, Entra ID, GitLab, ...). With "ldap" or "oidc",
# hub_users, hub_passwords, sign-ups and hub_login_attempts do not apply; hub_admin_users stay
# admins (they must log in under that name), beside the admin groups. Users keep their folders
# across a switch when their new login name is their account name (README, "Switching logins").
hub_auth = "native"
# "ldap": the directory server's name, as its certificate names it (or its address).
ldap_server = None
# How the connection is encrypted before any password is sent: "starttls" (LDAP's port, upgraded)
# or "ldaps" (TLS from the start). There is no unencrypted mode.
ldap_tls = "starttls"
# The server's port; None: 389 with "starttls", 636 with "ldaps".
ldap_port = None
# A PEM file on the machine running pyinfra: the CA that signed the directory's certificate.
# None: the CAs the Hub's image trusts (Debian's ca-certificates, plus build_ca_certificates).
ldap_ca_certificate = None
# How a login name becomes the person's entry: a DN template, "{username}" standing for the name
# ("uid={username},ou=people,dc=lab,dc=example")...
ldap_bind_dn_template = None
# ...or a search: under ldap_user_search_base ("ou=people,dc=lab,dc=example")...
ldap_user_search_base = None
# ...for the entry whose attribute of this name is the login name ("sAMAccountName" in AD)...
ldap_user_attribute = "uid"
# ...as this service account (None: an anonymous search)...
ldap_search_user_dn = None
# ...whose password is in this file on the machine running pyinfra: it reaches only the Hub's
# root-only data folder, never a command line, a log or the Hub's image.
ldap_search_password_file = None
# Where the directory's groups are ("ou=groups,dc=lab,dc=example"): a person's groups (their cn)
# become the Hub's groups at every login. None: no groups.
ldap_group_search_base = None
# Groups (cn) whose members may log in; []: everyone the directory knows.
ldap_allowed_groups = []
# Groups (cn) whose members are the Hub's admins, beside hub_admin_users.
ldap_admin_groups = []

# --- Logins from the lab's single sign-on (hub_auth = "oidc") ---------------------------------------

# The provider's issuer URL (https), e.g. "https://sso.lab.example/realms/lab" for a Keycloak realm.
# The deploy reads its discovery document (<issuer>/.well-known/openid-configuration) from the
# server and takes the endpoints from it; an issuer the server cannot reach is refused before any
# change. Register the Hub at the provider as a confidential client whose redirect URI is
# https://<hub_domain>[:<https_port>]/hub/oauth_callback (needs hub_domain and HTTPS).
oidc_issuer = None
# The client's id at the provider.
oidc_client_id = None
# A file on the machine running pyinfra holding the client's secret: it reaches only the Hub's
# root-only data folder, never a command line, a log or the Hub's image.
oidc_client_secret_file = None
# A PEM file on the machine running pyinfra: the CA that signed the provider's certificate. None:
# the CAs the Hub's image trusts (Debian's ca-certificates, plus build_ca_certificates).
oidc_ca_certificate = None
# Scopes asked for. Keycloak puts groups in the token only when a client scope maps them (README).
oidc_scopes = ["openid", "profile", "email"]
# The claim (from the provider's userinfo) that is the Hub's user name.
oidc_username_claim = "preferred_username"
# The claim listing the person's groups: they become the Hub's groups at every login.
oidc_groups_claim = "groups"
# Groups whose members may log in; []: everyone the provider authenticates for this client.
oidc_allowed_groups = []
# Groups whose members are the Hub's admins, beside hub_admin_users.
oidc_admin_groups = []

# --- Users' servers ------------------------------------------------------------------------------

# How the Hub hands out GPUs when gpu_enabled. "exclusive": each server gets GPUs no other running
# server holds (the spawn form says when none is free). "shared": servers may use the same GPUs,
# the least-used first. Either way by UUID; a GPU in MIG mode is handed out as its MIG instances.
gpu_allocation = "exclusive"

# The most GPUs one user's server may ask for in the spawn form.
max_gpus_per_user = 1

# What the Hub's groups (hub_groups, or the directory's or provider's) allow their members, by
# group, e.g. {"vision": {"max_gpus": 2, "images": ["PyTorch"], "mem_limit": "32G",
# "cpu_limit": 8, "max_hours": 72}, "teaching": {"max_gpus": 0, "max_hours": 4}}. Fields:
#   max_gpus   the most GPUs a server may ask for (default: max_gpus_per_user);
#   images     the notebook_images (by display_name) offered (default: all of them);
#   mem_limit  / cpu_limit  the server's limits (default: user_mem_limit / user_cpu_limit);
#   max_hours  the longest a server may run, then the Hub stops it (default: no limit).
# A member of several groups gets the most any of them allows. With any profile set, someone in
# no profiled group gets no GPU (and the defaults otherwise). {}: the defaults for everyone.
# Enforced by the Hub, whatever a form or API request asks.
group_profiles = {}

# GPUs preselected in the spawn form, and given to a server started without it (the REST API):
# 0 to max_gpus_per_user; 0 makes CPU-only servers the default.
user_gpus = 1

# Size of /dev/shm in each user's container ("2G"): Docker's default of 64M breaks PyTorch's
# DataLoader with worker processes, which pass batches through shared memory.
user_shm_size = "2G"

# Memory limit of each user's container ("8G", "512M"); None for no limit.
user_mem_limit = "8G"

# CPU limit of each user's container, in cores (2, 0.5); None for no limit.
user_cpu_limit = 4

# Most processes (and threads) at once in each user's container, so that a fork bomb stops there
# instead of taking the host down; None for no limit. A DataLoader's workers or a parallel build
# use a few hundred at most.
user_pids_limit = 4096

# Most each user's home may hold ("50G"): their folder in users_home_root (~/work; on a Swarm the
# whole home) and, where Docker keeps volumes on the same filesystem, their home volume; None: no limit. Needs users_home_root on XFS mounted with prjquota, or ext4 made with
# `-O quota,project` and mounted with prjquota; refused elsewhere before any change (README).
user_storage_quota = None

# Addresses (or networks, like "10.0.0.0/8") that users' containers may not reach. By default
# the cloud metadata service, which AWS, GCP, Azure and Oracle serve on 169.254.169.254: from it
# any user could read the instance's credentials (Zero to JupyterHub blocks it too). IPv4 only;
# enforced on every node of a Swarm. (Whatever this lists, users' servers reach neither each other
# on one server nor any server's own services: README, "What is exposed".)
user_blocked_addresses = ["169.254.169.254"]

# Stop servers idle for this many seconds (their files stay); None never stops them.
idle_cull_timeout = 3600

# Reclaim GPUs left idle: a server whose GPUs all read 0 % utilisation for this many seconds
# (7200: two hours) is announced to its user on the Hub's home page, and stopped gpu_idle_grace
# seconds later if they stay idle (its files stay). Unlike idle_cull_timeout, an open browser tab
# does not count as use. None: never. Every GPU node's usage is sampled (README, "Seeing the GPUs").
gpu_idle_timeout = None
# Seconds from that warning to the stop.
gpu_idle_grace = 1800
# Groups whose members' servers are never reclaimed (e.g. ["long-training"]).
gpu_idle_exempt_groups = []
# True: admins' servers are never reclaimed either.
gpu_idle_exempt_admins = False

# A file on the machine running pyinfra holding a token (e.g. `openssl rand -hex 32`) for your
# Prometheus: it then reads the Hub's /hub/metrics and, on a GPU server, each GPU's metrics with
# its holder (/services/gpu-usage/metrics). The token reaches only the Hub's root-only data
# folder. None: no metrics for anyone (README, "Prometheus").
prometheus_token_file = None

# --- Backups (restic) ------------------------------------------------------------------------------

# Where restic keeps the Hub's server's backups: a folder on another disk ("/mnt/backup/jupyterhub")
# or another host over SFTP ("sftp:restic@backup.lab.example:/srv/restic/gpu01"). None: no backups
# (README, "Backups"). What is backed up: the Hub's database (a consistent copy), its data folder,
# the proxy's certificates, users_home_root, team folders and users' home volumes.
backup_repository = None
# A file on the machine running pyinfra holding the repository's password (lose it and the
# backups cannot be read). It reaches only a root-only folder on the server.
backup_password_file = None
# For SFTP: a local file with the private key the server logs in with (no passphrase)...
backup_ssh_key_file = None
# ...and a local known_hosts file naming the SFTP host's key (`ssh-keyscan HOST`, checked by you).
backup_ssh_known_hosts_file = None
# When to back up (systemd's OnCalendar: "daily", "*-*-* 03:00")...
backup_schedule = "*-*-* 03:00"
# ...and when to check the repository (restic check: its structure, not every byte).
backup_check_schedule = "Sun *-*-* 05:00"
# Which snapshots to keep (restic forget --keep-<unit>): last, hourly, daily, weekly, monthly, yearly.
backup_keep = {"daily": 7, "weekly": 4, "monthly": 6}
# True on a new server that replaces one: before its Hub first starts, the latest snapshot of
# backup_repository comes back (accounts and passwords, homes, team folders, certificates). A
# server that has a Hub database is never restored over, whatever this says.
restore_from_backup = False

# --- The NVIDIA stack (when gpu_enabled) -----------------------------------------------------------

# Driver branch to install. "auto": a branch the host's archive really offers (read from its apt
# lists, so the choice is always one that exists) that runs every notebook image's CUDA and every
# GPU of the host: the branch the host already runs while NVIDIA supports it (no surprise
# upgrade), else the newest NVIDIA Long-Term Support Branch on offer (fewest forced moves on a
# shared server), else the newest branch. Or a branch like "580": refused, before any change,
# where the host's archive lacks it. Or None: the driver is yours (e.g. a cloud GPU image's); the
# preflight still checks it.
# NVIDIA's lifecycle (jhgpu/nvidia_branches.py, from NVIDIA's "Supported Drivers and CUDA Toolkit
# Versions"): 535 Long-Term Support Branch, ended June 2026; 570 Production Branch, ended February
# 2026; 580 Long-Term Support Branch, to June 2028; 595 Production Branch, to March 2027; 620
# Long-Term Support Branch, to September 2029 (taken by "auto" once an archive carries it).
# What the archives offer (checked 2026-11 on packages.ubuntu.com and Debian's archive):
# - Ubuntu 24.04 and 22.04: -server branches 580 and 595 (multiverse), 570 and 470; 535, 550 and
#   565 (and 575 on 24.04) are transitional packages that install 580
#   (e.g. https://packages.ubuntu.com/noble/nvidia-utils-565-server). "auto" takes 580.
# - Ubuntu 20.04: 535 and 550 (no 570 or newer: https://packages.ubuntu.com/focal/nvidia-dkms-550-server).
# - Debian 12: 535 only; Debian 13: 550 only (non-free; https://packages.debian.org/trixie/nvidia-driver).
#   No Debian release offers a branch for Blackwell GPUs (570 or newer): such a host is refused.
nvidia_driver_branch = "auto"

# "headless": compute only, no X libraries (servers); "server": the full driver package.
# On Ubuntu both use the prebuilt modules signed by Canonical (Secure Boot) where the kernel has them.
nvidia_driver_flavour = "headless"

# The kernel modules' flavour. "auto": read from the GPUs' PCI ids before any driver exists:
# "open" for Blackwell and Grace Hopper (open only), "proprietary" for Maxwell, Pascal and Volta
# (proprietary only, branches up to 580), and for Turing to Hopper the open ones NVIDIA
# recommends, except on Debian (its -security updates of the driver come without the open
# modules; its 535 and 550 default to proprietary); a host running one flavour keeps it; a host
# mixing GPUs of both kinds is refused, naming them. Or "open" / "proprietary": refused before any
# change where a GPU cannot run it (jhgpu/nvidia_modules.py, with NVIDIA's sources). Changing it on
# an installed host swaps the packages in one apt run and needs one reboot.
nvidia_kernel_modules = "auto"

# A new or changed driver needs a reboot. True: the deploy reboots the host and waits for it.
# False: it stops and asks you to reboot and rerun.
nvidia_allow_reboot = False

# NVIDIA Container Toolkit's apt repository (a mirror if needed); the architecture is appended.
nvidia_container_toolkit_repo_url = "https://nvidia.github.io/libnvidia-container/stable/deb"

# The key that signs that repository (ASCII-armored), kept in /etc/apt/keyrings for signed-by.
nvidia_container_toolkit_key_url = "https://nvidia.github.io/libnvidia-container/gpgkey"

# The toolkit's version (its four packages are pinned together, as NVIDIA's install guide does).
# 1.20.0 (2026-08) is the release NVIDIA's docs mark preferred; keep it at 1.19.0 or later:
# 1.18.x ignore Docker Swarm's GPU assignments (NVIDIA/nvidia-container-toolkit#1599).
nvidia_container_toolkit_version = "1.20.0-1"

# Debian archive for the driver's contrib, non-free and non-free-firmware components on Debian 12
# and 13 (a mirror if needed), used for a suite the host's own sources do not name; a suite they
# name gets the missing components at the host's own mirror, so apt sees nothing twice.
debian_mirror_url = "http://deb.debian.org/debian"

# Debian's security archive, where NVIDIA's Debian packages get their fixes (<codename>-security);
# used, as above, where the host's sources lack that suite. As Debian's installer writes it.
debian_security_mirror_url = "http://security.debian.org/debian-security"

# The image (a notebook_images name) the last step runs with GPUs requested, to show that a
# user's container sees them. None skips that check.
gpu_check_image = "tensorflow-notebook"

# --- Several GPU servers as one Hub (Docker Swarm) -----------------------------------------------
# In inventory.py, put the server that runs the Hub in group `hub_server` and the other GPU
# servers in `gpu_workers` (docs/swarm-or-kubernetes.md). Without workers none of this applies.

# The address this host is reached at by the Swarm's other nodes (and, on the Hub's server, where
# workers reach the image registry and NFS). None: the host's address on its default route.
swarm_advertise_address = None

# Encrypt the Swarm's overlay network (IPsec between nodes, `--opt encrypted`): the proxy's
# traffic to users' servers carries their cookies and tokens across your LAN. Every node's kernel
# needs ESP (esp4; Ubuntu's and Debian's kernels have it) and the nodes must pass IP protocol 50
# (ESP) between them. Applies when the network is made: an existing one is kept, with a warning.
swarm_encrypted_network = True

# How users' homes (users_home_root), shared_data_dir and, with team_folders, team_folders_root
# reach every node, at the same paths:
# "nfs": the Hub's server exports them over NFS and the workers mount them;
# "external-nfs": nfs_server exports them (nfs_homes_export, nfs_shared_export, nfs_teams_export),
#                 every node mounts them;
# "mounted": you mounted them on every node yourself (CephFS, GPFS, ...); the deploy checks it.
shared_storage = "nfs"
# "external-nfs": the NFS server's name or address...
nfs_server = None
# ...its export mounted at users_home_root...
nfs_homes_export = None
# ...its export mounted at shared_data_dir...
nfs_shared_export = None
# ...and, with team_folders, its export mounted at team_folders_root (root must pass, like the homes').
nfs_teams_export = None

# The registry the notebook images go through: it runs on the Hub's server, which builds the
# images and pushes them; workers pull them by digest. 3.1.2 is the newest tag of the official
# image: docker-library/official-images library/registry at commit 003e0d73 lists "Tags: 3.1.2,
# 3.1, 3, latest", built from distribution/distribution-library-image 775973b6 (version='3.1.2').
registry_image = "registry:3.1.2"
# The registry's port on the Hub's server (at swarm_advertise_address).
registry_port = 5000
