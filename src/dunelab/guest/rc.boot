#!/bin/sh
# dunelab initramfs and overlay forms, run once by busybox init (sysinit): network, then sshd,
# then the readiness line the backends wait for on the serial console.
# With dunelab.seed=ttySN the lab's identity does not come with the initrd: the guest waits for it
# on that serial port before starting sshd. That is where a Bochs saved state is taken, so every
# guest restored from it gets its own keys, hostname, clock and entropy (see seed_from_serial).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /etc/dunelab/net.conf        # ADDRESS=10.0.2.15/24 GATEWAY=10.0.2.2 (from the recipe)
seedport=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        dunelab.ip=*) ADDRESS="${arg#dunelab.ip=}" ;;
        dunelab.gw=*) GATEWAY="${arg#dunelab.gw=}" ;;
        dunelab.seed=*) seedport="${arg#dunelab.seed=}" ;;
    esac
done

# The host sends (dunelab.backends.bochs_state.seed_message):
#   dunelab-seed 1 / time EPOCH / entropy HEX / cpio SHA256 / base64 lines of the seed cpio / end
seed_from_serial() {
    tty=/dev/$1
    stty -F $tty raw -echo 115200 || return 1
    exec 3<$tty
    while read -r word ver <&3; do [ "$word" = dunelab-seed ] && break; done
    read -r _ epoch <&3; read -r _ entropy <&3; read -r _ sum <&3
    : > /tmp/seed.b64
    while read -r line <&3; do
        [ "$line" = end ] && break
        echo "$line" >> /tmp/seed.b64
    done
    exec 3<&-
    base64 -d /tmp/seed.b64 > /tmp/seed.cpio || return 1
    got=$(sha256sum < /tmp/seed.cpio)
    [ "${got%% *}" = "$sum" ] || { echo "dunelab: warning: seed checksum mismatch"; return 1; }
    # Every guest restored from one saved state starts with the same kernel RNG: mix in the
    # host's bytes and force a reseed (RNDRESEEDCRNG) before sshd makes any key.
    echo "$entropy" > /dev/urandom
    command -v perl >/dev/null && perl -e 'open(my $f, ">", "/dev/urandom") or exit 1; ioctl($f, 0x5207, 0);'
    date -u -s "@$epoch" >/dev/null
    rm -rf /tmp/seedroot; mkdir -p /tmp/seedroot
    (cd /tmp/seedroot && busybox cpio -i -d -m 2>/dev/null < /tmp/seed.cpio) || return 1
    /etc/dunelab/seed-install /tmp/seedroot/dunelab/seed ""
    [ -s /etc/hostname ] && hostname "$(cat /etc/hostname)"
    rm -rf /tmp/seed.b64 /tmp/seed.cpio /tmp/seedroot
    echo "dunelab: seed received"
}

ip link set lo up
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
if [ -e /sys/class/net/eth0 ]; then
    ip addr add "$ADDRESS" dev eth0
    ip link set eth0 up
    ip route add default via "$GATEWAY"
else
    echo "dunelab: warning: no eth0 (is the NIC driver in initramfs.load?)"
fi
# slirp's DNS forwarder; harmless elsewhere
[ -s /etc/resolv.conf ] || echo "nameserver 10.0.2.3" > /etc/resolv.conf

if [ -n "$seedport" ]; then
    echo "dunelab: waiting for the seed on $seedport"
    until seed_from_serial "$seedport"; do echo "dunelab: warning: bad seed, waiting again"; done
fi

mkdir -p /run/sshd /var/log /var/run
chmod 755 /run/sshd
touch /var/log/lastlog
# -r: serve each connection in a fork of this sshd instead of re-executing the binary; under
# Bochs, exec + dynamic linking of sshd per connection costs seconds of emulated time.
if /usr/sbin/sshd -r; then
    # sshd forks after binding, so once the pid file exists it is accepting connections.
    n=0
    while [ ! -s /run/sshd.pid ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    echo "dunelab: sshd up"
else
    echo "dunelab: sshd failed to start"
fi
