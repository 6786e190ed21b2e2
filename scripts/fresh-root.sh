#!/usr/bin/env bash
# Proves the README's two commands the way a newcomer meets them: in a
# fresh Debian 12 root made with debootstrap, nothing installed but the
# minimal base system, with this repository's committed tree copied in.
#
#   sudo scripts/fresh-root.sh [--dir DIR] [--mirror URL] [--security]
#                              [--test] [--only TEST] [--timeout SECONDS]
#                              [--keep] [--reuse]
#
#   --dir DIR        where the root lives (default /var/tmp/mtls-fresh-root);
#                    an existing root is reused only with --reuse
#   --reuse          run in the root at DIR as it is (faster, not fresh)
#   --mirror URL     Debian mirror (default http://deb.debian.org/debian)
#   --security       add bookworm-security to the root's sources, as an
#                    installed machine has; without it the root has only
#                    the point release's packages (older openssl CLI)
#   --test           after ./scripts/demo.sh, run ./scripts/test.sh too
#                    (installs every test peer; takes long)
#   --only TEST      after the demo, install every test peer, build and run
#                    just `meson test TEST` (repeatable; minutes, not the
#                    hour --test takes); with --reuse on a kept root the
#                    copied tree is rebuilt and only TEST runs again
#   --timeout S      stop each command after S seconds (default 3600)
#   --keep           keep the root afterwards (default: delete it)
#
# Needs root (debootstrap, chroot, mounts) and network access to the
# mirror. Prints each command's last lines and exits 0 when every command
# run inside the root succeeded. docs/fresh-machine.md records results.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/var/tmp/mtls-fresh-root
mirror=http://deb.debian.org/debian
security=0 test=0 keep=0 reuse=0 limit=3600
only=()
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift ;;
	--mirror) mirror=$2; shift ;;
	--security) security=1 ;;
	--test) test=1 ;;
	--only) only+=("$2"); shift ;;
	--timeout) limit=$2; shift ;;
	--keep) keep=1 ;;
	--reuse) reuse=1 ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fresh-root.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-root.sh: run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-root.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

mounted=()
cleanup() {
	local m
	for ((m = ${#mounted[@]} - 1; m >= 0; m--)); do umount -l "${mounted[m]}" 2>/dev/null || true; done
	if [ "$keep" = 0 ] && [ "$reuse" = 0 ]; then rm -rf --one-file-system "$dir"; fi
}
trap cleanup EXIT

if [ "$reuse" = 0 ]; then
	[ ! -e "$dir" ] || { echo "fresh-root.sh: $dir exists; remove it or pass --reuse" >&2; exit 1; }
	echo "== debootstrap bookworm into $dir"
	debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
		{ tail -5 "$dir.debootstrap.log"; exit 1; }
fi
# What an installed machine has and debootstrap does not write: name
# resolution for localhost (the demo listens on it) and DNS.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"
cp /etc/resolv.conf "$dir/etc/resolv.conf"
echo "deb $mirror bookworm main" >"$dir/etc/apt/sources.list"
if [ "$security" = 1 ]; then
	echo "deb http://security.debian.org/debian-security bookworm-security main" >>"$dir/etc/apt/sources.list"
fi
# The root is a mount point of its own, as / is on a machine: unshare -m
# makes / private and refuses ("cannot change root filesystem
# propagation") when / is just a directory, so tests that give a peer a
# private mount namespace skipped in a plain chroot. Private, so that
# nothing mounted under it propagates back to the host.
mount --bind "$dir" "$dir"
mounted+=("$dir")
mount --make-private "$dir"
for m in proc sys dev dev/pts; do
	mkdir -p "$dir/$m"
	case $m in
	proc) mount -t proc proc "$dir/proc" ;;
	sys) mount -t sysfs sys "$dir/sys" ;;
	dev) mount --bind /dev "$dir/dev" ;;
	dev/pts) mount -t devpts devpts "$dir/dev/pts" ;;
	esac
	mounted+=("$dir/$m")
done
rm -rf "$dir/root/mtls"
mkdir -p "$dir/root/mtls"
git archive HEAD | tar -x -C "$dir/root/mtls"

status=0
run() { # NAME COMMAND: runs COMMAND in the root's copy of the repository
	local name=$1 cmd=$2 start rc
	echo "== $name (in the fresh root)"
	start=$(date +%s)
	rc=0
	timeout "$limit" chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd /root/mtls && $cmd" >"$dir/root/$name.log" 2>&1 || rc=$?
	# Keep the log beside the root: the root is deleted at the end.
	cp "$dir/root/$name.log" "$dir.$name.log"
	tail -15 "$dir.$name.log"
	if [ "$rc" != 0 ]; then
		echo "== what failed:"
		grep -a -E "^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)|^FAIL - " "$dir.$name.log" | head -40 || true
	fi
	echo "== $name: exit $rc after $(($(date +%s) - start)) s (log: $dir.$name.log)"
	[ "$rc" = 0 ] || status=1
}
run demo ./scripts/demo.sh
chroot "$dir" openssl version 2>/dev/null | sed 's/^/== the root has /' || true
[ "$test" = 1 ] && run test ./scripts/test.sh
if [ ${#only[@]} -gt 0 ]; then
	run only "scripts/deps.sh test && scripts/build.sh build && meson test -C build --print-errorlogs ${only[*]}"
fi
exit $status
