"""Last: show that a user's container sees the GPUs, from the image gpu_check_image names."""

from pyinfra import host

from jhgpu.images import image_ref
from jhgpu.operations.nvidia import gpu_check

if host.data.gpu_enabled and host.data.gpu_check_image:
    image = image_ref(host.data.image_owner, host.data.gpu_check_image)
    gpu_check(name=f"Check that a container of {image} sees the GPUs", image=image)
