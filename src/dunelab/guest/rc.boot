#!/bin/sh
# dunelab initramfs and overlay forms, run once by busybox init (sysinit): network, then sshd,
# then the readiness line the backends wait for on the serial console.
# With dunelab.seed=tcp:PORT the lab's identity does not come with the initrd: the guest waits
# for it on that TCP port (seed-receive, which also starts sshd). That is where a Bochs saved state
# is taken, so every guest restored from it gets its own keys, hostname, clock and entropy.
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

case "$seedport" in
    tcp:*)
        echo "dunelab: waiting for the seed on $seedport"
        until [ -s /run/sshd.pid ]; do
            busybox nc -l -p "${seedport#tcp:}" -e /etc/dunelab/seed-receive
        done ;;
    *)
        /etc/dunelab/start-sshd ;;
esac
