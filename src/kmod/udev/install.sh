#!/bin/sh
# Install the udev rule and the "dune" group that grant /dev/dune to its members.
# Run by `make install-udev`, by DKMS after installing the module (POST_INSTALL), and by the lab's
# provisioning.  DESTDIR stages the files without touching the running system.
set -e
here=$(dirname "$0")
install -D -m 0644 "$here/60-dune.rules" "$DESTDIR/lib/udev/rules.d/60-dune.rules"
install -D -m 0644 "$here/dune.sysusers" "$DESTDIR/usr/lib/sysusers.d/dune.conf"
[ -z "$DESTDIR" ] || exit 0
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/dune.conf
elif ! getent group dune >/dev/null; then
	groupadd --system dune
fi
if command -v udevadm >/dev/null 2>&1; then
	udevadm control --reload || true
	[ -e /dev/dune ] && udevadm trigger --action=change --sysname-match=dune || true
fi
