"""Settings validation: every kind of bad value is refused, naming the host and the setting."""

import ast
import io
import json
import tarfile

import pytest

from jhgpu.settings import SETTINGS, SettingsError, validate
from recorded import REPO, default_settings
from testbed.testbed import git


def check(**overrides):
    validate("gpu01", {**default_settings(), **overrides})


def refused(**overrides) -> str:
    with pytest.raises(SettingsError) as error:
        check(**overrides)
    message = str(error.value)
    assert "host 'gpu01'" in message
    return message


def docker_save_archive(path, tags):
    """A minimal archive shaped like `docker save` output."""
    manifest = json.dumps([{"Config": "x.json", "RepoTags": tags, "Layers": []}]).encode()
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return str(path)


def test_defaults_are_valid():
    check()


def test_settings_reference_and_validation_name_the_same_settings():
    tree = ast.parse((REPO / "group_data" / "all.py").read_text())
    documented = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets}
    assert documented == set(SETTINGS)


def test_every_setting_has_a_comment_in_the_reference():
    lines = (REPO / "group_data" / "all.py").read_text().splitlines()
    for index, line in enumerate(lines):
        name = line.split(" = ")[0]
        if name in SETTINGS:
            assert lines[index - 1].startswith("#"), f"{name} has no comment line above it"


def test_typo_is_refused_with_the_closest_name():
    message = refused(users_home_rot="/home/x")
    assert "unknown setting 'users_home_rot'" in message
    assert "did you mean 'users_home_root'" in message


def test_pyinfra_connection_data_is_not_an_unknown_setting():
    check(ssh_port=2222, ssh_user="ubuntu", _sudo=True)


@pytest.mark.parametrize("name", ["jupyterhub_root", "users_home_root"])
def test_relative_path_is_refused(name):
    message = refused(**{name: "jh_users"})
    assert f"setting '{name}' must be an absolute path" in message
    assert "'jh_users'" in message


def test_parent_folder_reference_is_refused():
    assert "must not contain '..'" in refused(users_home_root="/home/../etc")


def test_shared_data_must_live_under_mnt():
    assert "setting 'shared_data_dir' must be a folder under /mnt/" in refused(shared_data_dir="/srv/shared")
    assert "under /mnt/" in refused(shared_data_dir="/mnt")


@pytest.mark.parametrize("name, value, expected", [
    ("gpu_enabled", "yes", "must be bool, got str 'yes'"),
    ("gpu_enabled", 1, "must be bool, got int 1"),
    ("jupyterhub_root", 42, "must be str, got int 42"),
    ("preload_images", "image.tar", "must be list or tuple, got str"),
    ("base_packages", ["curl", 3], "item 1: must be str, got int 3"),
])
def test_wrong_type_is_refused(name, value, expected):
    message = refused(**{name: value})
    assert f"setting '{name}' {expected}" in message


@pytest.mark.parametrize("name, value, expected", [
    ("docker_source", "snap", "must be one of 'distro', 'docker-ce', got 'snap'"),
    ("jupyterhub_user", "Jupyter Hub", "must be a Unix user name"),
    ("compose_project_name", "My Hub", "must be lowercase letters"),
    ("docker_ce_repo_url", "download.docker.com", "must be an http:// or https:// URL"),
    ("base_packages", ["curl; rm -rf /"], "item 0: must be a Debian package name"),
])
def test_impossible_value_is_refused(name, value, expected):
    assert f"setting '{name}' {expected}" in refused(**{name: value})


def test_nested_folders_are_refused():
    message = refused(users_home_root="/home/jupyterhub/JupyterHubGPU/users")
    assert "jupyterhub_root (/home/jupyterhub/JupyterHubGPU) and users_home_root" in message


def test_missing_local_files_are_refused(tmp_path):
    assert "must be an existing file on this machine" in refused(preload_images=[str(tmp_path / "no.tar")])
    assert "must be an existing file" in refused(build_ca_certificates=str(tmp_path / "ca.pem"))


def test_preload_archive_must_name_an_image(tmp_path):
    not_an_archive = tmp_path / "notes.tar"
    not_an_archive.write_text("hello")
    assert "is not a `docker save` archive" in refused(preload_images=[str(not_an_archive)])
    untagged = docker_save_archive(tmp_path / "untagged.tar", [])
    assert "names no image tag" in refused(preload_images=[untagged])
    check(preload_images=[docker_save_archive(tmp_path / "hub.tar", ["jupyterhub/jupyterhub:5"])])


def test_ca_bundle_must_hold_a_certificate(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    assert "holds no PEM certificate" in refused(build_ca_certificates=str(bundle))
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    check(build_ca_certificates=str(bundle))


def test_all_problems_are_reported_at_once():
    message = refused(users_home_rot="/x", gpu_enabled="no", jupyterhub_root="jh")
    assert message.count("\n  - ") == 3


FOUNDATION = {"name": "docker-stacks-foundation", "context": "images/docker-stacks-foundation", "parent": None}


@pytest.mark.parametrize("ref", ["main", "v1.0", "1234abcd"])
def test_branch_or_short_ref_is_refused(ref):
    message = refused(docker_stacks_ref=ref)
    assert f"setting 'docker_stacks_ref' must be a full commit SHA (40 hex digits), got {ref!r}" in message
    assert "branch and tag names are refused" in message


def test_local_docker_stacks_repo_must_exist_and_hold_the_ref(tmp_path):
    assert "must be a git URL or a git repository on this machine" in refused(docker_stacks_repo=str(tmp_path))
    repo = tmp_path / "stacks"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    head = git(repo, "rev-parse", "HEAD")
    check(docker_stacks_repo=str(repo), docker_stacks_ref=head)
    assert "is not a commit of docker_stacks_repo" in refused(docker_stacks_repo=str(repo), docker_stacks_ref="a" * 40)


@pytest.mark.parametrize("images, expected", [
    ("images", "must be list or tuple"),
    ([{"context": "x"}], "item 0: 'name' must be str"),
    ([{"name": "Base", "context": "x"}], "item 0: 'name' must be a Docker image name"),
    ([{**FOUNDATION, "contxt": "x"}], "unknown key(s) ['contxt']"),
    ([{"name": "a"}], "image 'a': needs exactly one of 'context'"),
    ([{"name": "a", "context": "/abs"}], "'context' must be a relative folder inside the checkout"),
    ([{"name": "a", "context": "../up"}], "'context' must be a relative folder inside the checkout"),
    ([{"name": "a", "local_context": "/no/such/folder"}], "'local_context' must be an existing folder"),
    ([{"name": "a", "context": "x", "parent": "b"}], "parent 'b' must be an image listed before it"),
    ([FOUNDATION, FOUNDATION], "listed twice"),
    ([{**FOUNDATION, "build_args": {"A": 1}}], "'build_args' must map names to strings"),
    ([{**FOUNDATION, "display_name": 3}], "'display_name' must be str or None"),
])
def test_bad_image_chain_is_refused(images, expected):
    message = refused(notebook_images=images)
    assert "setting 'notebook_images'" in message and expected in message


def test_image_owner_and_root_image_are_checked():
    assert "setting 'image_owner' must be a Docker image name" in refused(image_owner="Jupyter GPU")
    assert "setting 'notebook_root_image' must be a Docker image reference" in refused(notebook_root_image="")


@pytest.mark.parametrize("overrides, expected", [
    ({"hub_port": "8000"}, "setting 'hub_port' must be int, got str '8000'"),
    ({"hub_port": 70000}, "setting 'hub_port' must be between 1 and 65535, got 70000"),
    ({"hub_users": "alice"}, "setting 'hub_users' must be list or tuple, got str"),
    ({"hub_users": ["Alice Smith"]}, "setting 'hub_users' item 0: must be an account name"),
    ({"hub_passwords": {"admin": "short"}}, "account 'admin': the password must be a string of at least 8"),
    ({"hub_passwords": {"carol": "long enough"}},
     "setting 'hub_passwords' has a password for 'carol', which is not in hub_admin_users or hub_users"),
    ({"hub_users": ["admin"]}, "setting 'hub_users' lists 'admin', already in hub_admin_users"),
    ({"hub_passwords_file": "passwords.txt"}, "setting 'hub_passwords_file' must be an absolute path"),
    ({"user_gpus": -1}, "setting 'user_gpus' must be at least 0, got -1"),
    ({"user_gpus": "all"}, "setting 'user_gpus' must be int, got str 'all'"),
    ({"user_gpus": 2}, "setting 'user_gpus' 2 is more than max_gpus_per_user (1)"),
    ({"max_gpus_per_user": 0}, "setting 'max_gpus_per_user' must be at least 1, got 0"),
    ({"gpu_allocation": "fair"}, "setting 'gpu_allocation' must be one of"),
    ({"user_mem_limit": 8}, "setting 'user_mem_limit' must be str, got int 8"),
    ({"user_mem_limit": "8GB"}, "setting 'user_mem_limit' must be a size like '8G' or '512M'"),
    ({"user_cpu_limit": 0}, "setting 'user_cpu_limit' must be at least 0.1, got 0"),
    ({"user_pids_limit": 10}, "setting 'user_pids_limit' must be at least 64, got 10"),
    ({"hub_login_attempts": 0}, "setting 'hub_login_attempts' must be at least 1, got 0"),
    ({"idle_cull_timeout": 10}, "setting 'idle_cull_timeout' must be at least 60, got 10"),
    ({"hub_base_image": "Not An Image"}, "setting 'hub_base_image' must be a Docker image reference"),
])
def test_bad_hub_settings_are_refused(overrides, expected):
    assert expected in refused(**overrides)


def test_a_hub_must_offer_users_at_least_one_image():
    chain = [{k: v for k, v in image.items() if k != "display_name"} for image in default_settings()["notebook_images"]]
    assert "offers users no image: give at least one a 'display_name'" in refused(notebook_images=chain)


def test_limits_and_culling_can_be_switched_off():
    check(user_mem_limit=None, user_cpu_limit=None, user_pids_limit=None, idle_cull_timeout=None, user_gpus=0)


def test_a_cuda_major_version_without_a_known_floor_is_refused():
    message = refused(notebook_root_image="nvidia/cuda:14.0.0-runtime-ubuntu26.04", nvidia_driver_branch="595")
    assert "CUDA 14.x is not in jhgpu/cuda.py's MINOR_VERSION_FLOOR" in message
    check(notebook_root_image="nvidia/cuda:12.7.0-runtime-ubuntu24.04", nvidia_driver_branch="580")


@pytest.mark.parametrize("overrides, expected", [
    ({"nvidia_driver_branch": "latest"}, "must be 'auto', None or a driver branch like '580'"),
    ({"nvidia_driver_branch": 580}, "must be str, got int 580"),
    ({"nvidia_container_toolkit_version": "latest"}, "must be a toolkit package version like '1.20.0-1'"),
    ({"jupyterhub_version": "5"}, "must be a JupyterHub release like '5.4.2'"),
    ({"notebook_images": [{**FOUNDATION, "cuda": "twelve"}]}, "'cuda' must be a CUDA version like '12.8' or '13'"),
])
def test_bad_nvidia_and_version_settings_are_refused(overrides, expected):
    assert expected in refused(**overrides)


def test_an_explicit_branch_below_a_cuda_13_image_is_refused_in_the_settings():
    images = [FOUNDATION, {"name": "pytorch", "context": "images/pytorch-notebook/cuda13",
                           "parent": "docker-stacks-foundation", "display_name": "PyTorch"}]
    message = refused(nvidia_driver_branch="570", notebook_images=images)
    assert "pytorch (CUDA 13, its build context images/pytorch-notebook/cuda13) needs NVIDIA driver >= 580" in message
    check(nvidia_driver_branch="580", notebook_images=images, gpu_check_image="pytorch")


@pytest.mark.parametrize("overrides, expected", [
    ({"jupyterhub_root": "/srv/o'hub"}, "setting 'jupyterhub_root' must use only letters, digits and"),
    ({"users_home_root": "/home/jh users"}, "setting 'users_home_root' must use only letters, digits and"),
    ({"hub_bind_address": "localhost"}, "setting 'hub_bind_address' must be an IP address of the host"),
    ({"notebook_images": [{**FOUNDATION, "name": "hub", "display_name": "Hub"}]},
     "image 'hub': the name is the Hub's own image's"),
])
def test_unsafe_paths_addresses_and_names_are_refused(overrides, expected):
    assert expected in refused(**overrides)


@pytest.mark.parametrize("bad, message", [
    ({"team_folders": ["../etc"]}, "setting 'team_folders' item 0: must be a group name"),
    ({"team_folders": ["vision", "vision"]}, "setting 'team_folders' lists 'vision' twice"),
    ({"team_folders_root": "/home/jh_users/teams"}, "users_home_root (/home/jh_users) and team_folders_root"),
    ({"hub_groups": {"vision": ["Alice Smith"]}}, "setting 'hub_groups' group 'vision'"),
    ({"hub_groups": {"a/b": ["alice"]}}, "setting 'hub_groups' group 'a/b': must be a group name"),
])
def test_unsafe_team_folders_and_groups_are_refused(bad, message):
    with pytest.raises(SettingsError) as refused:
        validate("gpu01", {**default_settings(), **bad})
    assert "gpu01" in str(refused.value) and message in str(refused.value)


@pytest.mark.parametrize("bad, message", [
    ({"group_profiles": {"vision": {"max_gpus": -1}}}, "setting 'group_profiles' group 'vision': must be at least 0"),
    ({"group_profiles": {"vision": {"gpus": 2}}}, "setting 'group_profiles' group 'vision': has no field 'gpus'"),
    ({"group_profiles": {"a b": {"max_gpus": 1}}}, "setting 'group_profiles' group 'a b': must be a group name"),
    ({"group_profiles": {"vision": {"images": ["Tensorflow"]}}},
     "setting 'group_profiles' group 'vision' names image 'Tensorflow', which is not the display_name of any of "
     "notebook_images (Python (SciPy), TensorFlow (GPU), PyTorch (GPU))"),
    ({"group_profiles": {"vision": {"mem_limit": "lots"}}}, "group 'vision': must be a size like '8G'"),
    ({"group_profiles": {"vision": {"max_hours": 0}}}, "group 'vision': must be at least 0.01"),
    ({"team_folders": ["vision"], "shared_storage": "external-nfs", "nfs_server": "nas", "nfs_homes_export": "/h",
      "nfs_shared_export": "/s"}, "setting 'nfs_teams_export' is needed with shared_storage = 'external-nfs' and team_folders"),
])
def test_bad_group_profiles_are_refused(bad, message):
    with pytest.raises(SettingsError) as refused:
        validate("gpu01", {**default_settings(), **bad})
    assert message in str(refused.value)
