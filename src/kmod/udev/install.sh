#!/bin/sh
# Install the udev rule and the "dune" group that grant /dev/dune to its members.
# Run by `make install-udev`, by DKMS after installing the module (POST_INSTALL), and by the lab's
# provisioning.  DESTDIR stages the files without touching the running system.  POSIX sh, and
# only what busybox has too: the Bochs lab guest is a busybox initramfs.
set -e
here=$(dirname "$0")
put() {
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2"
	chmod 0644 "$2"
}
put "$here/60-dune.rules" "$DESTDIR/lib/udev/rules.d/60-dune.rules"
put "$here/dune.sysusers" "$DESTDIR/usr/lib/sysusers.d/dune.conf"
[ -z "$DESTDIR" ] || exit 0

if grep -q '^dune:' /etc/group; then
	:
elif command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/dune.conf
elif command -v groupadd >/dev/null 2>&1; then
	groupadd --system dune
else
	# the highest free system gid below 1000
	gid=$(awk -F: '{ used[$3] = 1 } END { for (g = 999; g > 100 && used[g]; g--); print g }' /etc/group)
	echo "dune:x:$gid:" >> /etc/group
fi
if command -v udevadm >/dev/null 2>&1; then
	udevadm control --reload || true
	if [ -e /dev/dune ]; then
		udevadm trigger --action=change --sysname-match=dune || true
	fi
fi
