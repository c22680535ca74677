#!/bin/sh
# dunelab initramfs form, run once by busybox init (sysinit): network, then sshd, then the
# readiness line the backends wait for on the serial console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /etc/dunelab/net.conf        # ADDRESS=10.0.2.15/24 GATEWAY=10.0.2.2 (from the recipe)
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        dunelab.ip=*) ADDRESS="${arg#dunelab.ip=}" ;;
        dunelab.gw=*) GATEWAY="${arg#dunelab.gw=}" ;;
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
