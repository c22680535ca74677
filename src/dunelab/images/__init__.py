"""Guest images: Debian rootfs, a small initramfs, an ext4/qcow2 disk; cached by content.

Interface used by the backends::

    from dunelab.images import load_recipe, build_image, Image, write_seed_cpio, boot_initrd, make_iso

    recipe = load_recipe(path)                  # images/<name>.yaml; ConfigError(file, field, reason)
    result = build_image(recipe, force=False)   # BuildResult(image: Image, rebuilt: bool, message: str)
        # force=True rebuilds rootfs and forms and replaces the entries of the same key in place:
        # labs whose overlays use that disk.qcow2 as backing file must be destroyed first.
    image = result.image                        # Image(name, key, dir, kernel, initrd, disk, rootfs,
                                                #       kernel_release, manifest)
    write_seed_cpio(out, authorized_keys, host_key, host_key_pub, hostname) -> Path
        # uncompressed newc cpio with /dunelab/seed/{authorized_keys, ssh_host_ed25519_key{,.pub},
        # hostname}; the init installs these at boot (the host key is used whatever its type,
        # under the ed25519 name)
    boot_initrd(image, seed, out) -> Path       # image.initrd + seed, for -initrd / the ISO
    make_iso(kernel, initrd, cmdline, out) -> Path   # isolinux ISO, no prompt, APPEND cmdline
    host_mirrors() -> dict[str, str]            # (dunelab.images.mirrors) suite -> URI from /etc/apt

Booting (both forms, same kernel and initrd)::

    initramfs form (Bochs, or QEMU without a disk):
        -kernel image.kernel -initrd boot_initrd(...) -append "console=ttyS0,115200"
        NIC: e1000 or virtio-net; the guest is 10.0.2.15/24 via 10.0.2.2 (override with
        dunelab.ip=A.B.C.D/N dunelab.gw=A.B.C.D); busybox init, so `poweroff` works.
    disk form (QEMU/KVM): the same, plus a per-lab qcow2 overlay of image.disk as a virtio disk
        and "dunelab.root=/dev/vda" on the command line: the init mounts it, installs the seed's
        keys and hostname into it and switch_roots to systemd (networkd DHCP, sshd, serial getty).

Both print the line ``dunelab: sshd up`` on the console (ttyS0) once sshd accepts connections;
other console markers: ``dunelab: warning: ...``, ``dunelab: shutdown`` (initramfs form).
Other kernel arguments: dunelab.break (shell before boot), dunelab.rootwait=SECONDS (default 30).

Building needs root and the host tools in build.HOST_TOOLS (debootstrap, e2fsprogs, qemu-utils,
kmod, zstd); make_iso needs xorriso, isolinux and syslinux-common. The mirror comes from the
host's APT configuration (mirrors.py). Cache layout under $DUNELAB_HOME/cache/images/:
``rootfs-<suite>-<key16>/`` (rootfs/, rootfs.json, build.log) and ``<name>-<key16>/`` (vmlinuz,
initrd.img, disk.qcow2, manifest.json, build.log), ``<name>`` -> newest entry; a failed build
leaves only ``<entry>.log`` (named in the error). Old entries are never deleted automatically:
running labs' overlays may still use them as backing files. Image.rootfs is shared by every image built from the same
rootfs key: chroot builds may add files to it but must not remove or upgrade packages.
"""

from .build import build_image
from .image import BuildResult, Image
from .iso import make_iso
from .mirrors import host_mirrors
from .recipe import Recipe, load_recipe
from .seed import boot_initrd, write_seed_cpio

__all__ = ["BuildResult", "Image", "Recipe", "boot_initrd", "build_image", "host_mirrors",
           "load_recipe", "make_iso", "write_seed_cpio"]
