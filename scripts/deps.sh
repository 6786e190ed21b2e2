#!/usr/bin/env bash
# Installs the Debian 12 packages mtls needs and that are missing.
#   scripts/deps.sh build   what building needs
#   scripts/deps.sh test    plus every real peer the test suite starts
set -euo pipefail

build_pkgs=(gcc meson ninja-build pkg-config libssl-dev libsqlite3-dev libevent-dev
	libcurl4-openssl-dev libjansson-dev libcmocka-dev libpq-dev libc-ares-dev openssl curl python3
	ca-certificates)
# bsdextrautils: dehydrated turns its EAB key into hex with hexdump, which
# Debian's dehydrated package does not depend on (a minimal root lacks it).
test_pkgs=(clang libclang-rt-14-dev gnutls-bin libnss3-tools faketime socat jq
	nginx-light apache2 haproxy stunnel4 tomcat10 activemq default-jdk-headless
	procps iproute2 hyperfine time linux-perf sqlite3 util-linux systemd golang-cfssl
	certbot lego uacme dehydrated bsdextrautils pebble strace bind9
	softhsm2 libengine-pkcs11-openssl opensc postgresql)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Packages like nginx and tomcat start a system service on install; the
# tests start their own instances on 127.0.0.1, so keep the services off.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
