"""The image chain's decisions: build order, build arguments, what users are offered."""

from types import SimpleNamespace

from jhgpu.images import build_plan, input_digest, offered_images
from recorded import REPO, default_settings


def settings(**overrides):
    return SimpleNamespace(**{**default_settings(), **overrides})


def test_default_chain_is_built_from_the_root_image_down():
    plan = build_plan(settings())
    assert [b.name for b in plan] == ["docker-stacks-foundation", "base-notebook", "minimal-notebook",
                                     "scipy-notebook", "tensorflow-notebook", "pytorch-notebook"]
    foundation, base = plan[0], plan[1]
    root = default_settings()["notebook_root_image"]
    assert foundation.build_args["ROOT_IMAGE"] == root and foundation.parent_ref == root
    assert base.build_args["BASE_IMAGE"] == "jupytergpu/docker-stacks-foundation:latest"
    assert all(b.ref == f"jupytergpu/{b.name}:latest" for b in plan)
    assert foundation.context == "/home/jupyterhub/JupyterHubGPU/docker-stacks/images/docker-stacks-foundation"


def test_every_image_is_told_the_hubs_jupyterhub_version():
    plan = build_plan(settings(jupyterhub_version="5.4.6"))
    assert {b.build_args["JUPYTERHUB_VERSION"] for b in plan} == {"5.4.6"}
    # A new version is a new build input of every image: the chain rebuilds (input digests change).
    before = build_plan(settings())
    assert all(a.build_args != b.build_args for a, b in zip(before, plan))


def test_the_shipped_patches_install_that_version_from_pypi_after_checking_it_is_there():
    patches = REPO / "files" / "docker-stacks-patches"
    script = (patches / "0002-base-notebook-jupyterhub-install-script.patch").read_text()
    assert '+pip install --no-cache-dir "jupyterhub==${version}"' in script
    assert '+    if ! pip download --no-deps --quiet --dest "${scratch}" "jupyterhub==${version}"' in script
    dockerfile = (patches / "0003-base-notebook-jupyterhub-from-pypi.patch").read_text()
    assert "+ARG JUPYTERHUB_VERSION" in dockerfile
    assert "-    'jupyterhub-singleuser' \\" in dockerfile  # no longer the unpinned conda package
    check, install = "+RUN sh /usr/local/bin/jupytergpu-install-jupyterhub --check", \
        "+    sh /usr/local/bin/jupytergpu-install-jupyterhub && \\"
    assert dockerfile.index(check) < dockerfile.index("RUN mamba install") < dockerfile.index(install)


def test_both_gpu_images_of_the_default_chain_get_the_pinned_gpu_dashboard():
    patches = REPO / "files" / "docker-stacks-patches"
    gpu_contexts = {image["context"] for image in settings().notebook_images if image.get("cuda")}
    patched = set()
    for patch in patches.glob("000[45]-*.patch"):
        text = patch.read_text()
        assert '+RUN pip install --no-cache-dir "jupyterlab-nvdashboard==0.15.0" && \\' in text
        patched.add(text.split("+++ b/", 1)[1].split("/Dockerfile", 1)[0])
    assert patched == gpu_contexts == {"images/tensorflow-notebook/cuda", "images/pytorch-notebook/cuda12"}


def test_ca_certificates_add_a_root_layer_under_the_whole_chain(tmp_path):
    plan = build_plan(settings(build_ca_certificates="/etc/ssl/certs/ca-certificates.crt"))
    assert plan[0].name == "root-with-ca-certificates"
    assert plan[1].build_args["ROOT_IMAGE"] == "jupytergpu/root-with-ca-certificates:latest"


def test_image_owner_keeps_images_apart_from_the_official_ones():
    plan = build_plan(settings(image_owner="mylab"))
    assert plan[2].build_args["BASE_IMAGE"] == "mylab/base-notebook:latest"
    assert plan[2].build_args["OWNER"] == "mylab"


def test_an_admins_own_image_is_uploaded_from_their_folder(tmp_path):
    images = default_settings()["notebook_images"] + [
        {"name": "tf-frozen", "local_context": str(tmp_path), "parent": "tensorflow-notebook",
         "build_args": {"TF_VERSION": "2.15.1"}, "display_name": "TensorFlow 2.15 (frozen)"}]
    frozen = build_plan(settings(notebook_images=images))[-1]
    assert frozen.local_context == str(tmp_path)
    assert frozen.context == "/home/jupyterhub/JupyterHubGPU/image-contexts/tf-frozen"
    assert frozen.build_args["TF_VERSION"] == "2.15.1"
    assert offered_images(settings(notebook_images=images))["TensorFlow 2.15 (frozen)"] == "jupytergpu/tf-frozen:latest"


def test_only_images_with_a_display_name_are_offered():
    offered = offered_images(settings())
    assert set(offered.values()) == {"jupytergpu/scipy-notebook:latest", "jupytergpu/tensorflow-notebook:latest",
                                     "jupytergpu/pytorch-notebook:latest"}


def test_digest_changes_with_each_input():
    base = input_digest("ctx", {"A": "1"}, "sha256:parent")
    assert input_digest("ctx", {"A": "1"}, "sha256:parent") == base
    assert input_digest("ctx2", {"A": "1"}, "sha256:parent") != base
    assert input_digest("ctx", {"A": "2"}, "sha256:parent") != base
    assert input_digest("ctx", {"A": "1"}, "sha256:other") != base


def test_a_superseded_image_a_server_still_runs_is_not_counted_for_removal():
    """Otherwise every rerun would report a removal that `docker image prune` refuses to do."""
    from jhgpu.facts.docker import DanglingImages

    output = ["dangling sha256:old-scipy", "dangling sha256:old-tensorflow",
              "used sha256:old-tensorflow", "used sha256:current-hub"]
    assert DanglingImages().process(output) == ["sha256:old-scipy"]
    assert DanglingImages().process(["used sha256:current-hub"]) == []
