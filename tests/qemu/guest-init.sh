#!/bin/busybox sh
# The test guest's init (PID 1 of its initramfs). Everything it learns is
# printed on the serial console as "oxstack-guest: ..." lines, which the
# tests read back through the API's console output.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /mnt /tmp /var/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do insmod "/lib/modules/$module" 2>/dev/null; done < /lib/modules/load.list
say() { echo "oxstack-guest: $*"; }
say "kernel $(uname -r) up"

# The root disk (/dev/vda) counts the boots it has seen, so a test can tell
# a reboot from a new disk and a snapshot from the disk it was made of.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
header=$(dd if=/dev/vda bs=64 count=1 2>/dev/null | head -n 1)
case "$header" in
oxstack-test-disk\ boots=*)
    boots=$(( ${header#oxstack-test-disk boots=} + 1 ))
    printf 'oxstack-test-disk boots=%d\n' "$boots" | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null
    say "disk boots=$boots"
    ;;
*) say "disk unknown" ;;
esac

# The config drive: whatever block device carries the volume label config-2.
for dev in /dev/vd*; do
    [ "$dev" = /dev/vda ] && continue
    mount -t iso9660 -o ro "$dev" /mnt 2>/dev/null || continue
    meta=/mnt/openstack/latest/meta_data.json
    if [ -f "$meta" ]; then
        say "config drive $dev"
        say "uuid=$(sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p' "$meta")"
        say "hostname=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' "$meta")"
        grep -q '"public_keys"' "$meta" && say "public key $(sed -n 's/.*"public_keys": *{ *"\([^"]*\)".*/\1/p' "$meta")"
        [ -f /mnt/openstack/latest/user_data ] && say "user_data=$(head -n 1 /mnt/openstack/latest/user_data)"
        # A static address (a NIC on a bridge), as cloud-init would set it
        # from network_data.json: the first IPv4 one, on the first NIC.
        net=/mnt/openstack/latest/network_data.json
        address=$(sed -n 's/.*"type": *"ipv4", *"link": *"[^"]*", *"ip_address": *"\([^"]*\)".*/\1/p' "$net")
        netmask=$(sed -n 's/.*"ip_address": *"[^"]*", *"netmask": *"\([0-9.]*\)".*/\1/p' "$net")
        if [ -n "$address" ] && ifconfig eth0 "$address" netmask "$netmask" up; then
            say "network eth0 $address/$netmask"
        fi
        break
    fi
    umount /mnt
done
for dev in /dev/vd*; do
    say "block device $dev $(cat /sys/block/${dev#/dev/}/serial 2>/dev/null)"
done

# The ACPI power button powers the guest off cleanly (Nova's soft stop
# and soft reboot press it).
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho "oxstack-guest: power button"\nsync\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /tmp/acpid.log
say "ready"
while true; do sleep 3600; done
