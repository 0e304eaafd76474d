#!/usr/bin/env bash
# Builds the qemu driver's test guest from Debian packages: Debian's
# kernel, an initramfs of busybox-static with the modules the guest needs
# (virtio disks and NICs, ISO 9660 for the config drive, the ACPI power
# button) and tests/qemu/guest-init.sh as its init, and a 1 MiB raw root
# disk whose first line counts the guest's boots. Boots in seconds under
# TCG. Output (kept until the inputs change): OUT/vmlinuz, OUT/initrd.img,
# OUT/disk.raw.
#
#   tests/qemu/make-image.sh [OUT]        (default: target/test-guest)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../target/test-guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)

kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -z "$kernel_pkg" ]]; then
    apt-get update -qq
    kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
version=${kernel_pkg#linux-image-}
stamp="$version $(sha256sum "$here/guest-init.sh" "$0" | sha256sum | cut -c1-16)"
if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" && -f "$out/initrd.img" ]]; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get download writes into the current directory as the _apt user
# when it can; a root-owned temporary directory makes it fall back.
apt-get download "$kernel_pkg" busybox-static >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get download "$kernel_pkg" busybox-static >/dev/null
}
dpkg-deb -x linux-image-*.deb kernel
dpkg-deb -x busybox-static_*.deb busybox
depmod -b kernel "$version"

root=$work/root
mkdir -p "$root/bin" "$root/lib/modules"
cp busybox/bin/busybox "$root/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$root/init"
for module in virtio_pci virtio_blk virtio_net isofs button evdev; do
    modprobe -d kernel -S "$version" --show-depends "$module"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r path; do
    cp "$path" "$root/lib/modules/"
    basename "$path" >> "$root/lib/modules/load.list"
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initrd.img"
cp "kernel/boot/vmlinuz-$version" "$out/vmlinuz"
printf 'oxstack-test-disk boots=0\n' > "$out/disk.raw"
truncate -s 1M "$out/disk.raw"
echo "$stamp" > "$out/stamp"
echo "test guest (kernel $version) in $out"
