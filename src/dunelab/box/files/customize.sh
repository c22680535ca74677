#!/bin/sh
# Run by `dunelab image box` inside the image's disk filesystem (chroot on a fuse2fs mount): what a
# Vagrant box needs on top of dunelab's disk form. Files come in /tmp/dunelab-box/.
set -eu
B=/tmp/dunelab-box

# sudo: Vagrant logs in as `vagrant` and runs everything else through passwordless sudo. APT's lists
# go to a tmpfs the builder mounted on /var/lib/apt/lists, so they never land in the image.
apt-get update -qq
apt-get install -y -qq --no-install-recommends sudo
apt-get clean

# The vagrant user: Vagrant's well-known insecure key (replaced by a fresh key pair on the first
# `vagrant up`), password "vagrant" for the console (sshd accepts keys only), passwordless sudo.
id vagrant >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --user-group vagrant
echo 'vagrant:vagrant' | chpasswd
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 0600 -o vagrant -g vagrant $B/vagrant-insecure.pub /home/vagrant/.ssh/authorized_keys
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
visudo -cqf /etc/sudoers.d/vagrant

# SSH host keys: dunelab's labs bring theirs in a seed; a box generates its own on first boot.
install -m 0644 $B/dunelab-box-hostkeys.service /etc/systemd/system/dunelab-box-hostkeys.service
systemctl enable -q dunelab-box-hostkeys.service
grep -qx 'HostKey /etc/ssh/ssh_host_rsa_key' /etc/ssh/sshd_config ||
    echo 'HostKey /etc/ssh/ssh_host_rsa_key' >> /etc/ssh/sshd_config   # for SSH clients without ed25519

# DHCP on eth0 (the image's networkd file matches en* and eth*); the MAC as client id, so libvirt's
# lease table (where vagrant-libvirt looks for the address) and the guest agree.
install -d /etc/systemd/network/10-dunelab.network.d
install -m 0644 $B/dhcp-client-id.conf /etc/systemd/network/10-dunelab.network.d/box.conf
# Not QEMU's user-mode DNS (10.0.2.3) behind libvirt's NAT: resolv.conf from networkd's DHCP lease.
install -m 0755 $B/dunelab-box-resolv /usr/local/sbin/dunelab-box-resolv
install -m 0644 $B/dunelab-box-resolv.service /etc/systemd/system/dunelab-box-resolv.service
systemctl enable -q dunelab-box-resolv.service

# sudo resolves its own host name: Debian's 127.0.1.1 line (Vagrant rewrites it when it sets a hostname).
h=$(cat /etc/hostname)
grep -qw "$h" /etc/hosts || sed -i "1a 127.0.1.1\t$h" /etc/hosts

install -d /usr/lib/dunelab
install -m 0644 $B/box.json /usr/lib/dunelab/box.json
dpkg-query -W -f '${Package}\t${Version}\n' sudo > $B/added-packages
