#!/usr/bin/env bash
# Install the Debian packages the integration tests start as ephemeral servers
# (see tests/servers.py). Idempotent: does nothing when everything is present.
#
# The tests run their own private instances on random 127.0.0.1 ports, so this
# script never stops, starts or reconfigures system services that may already
# be running on the standard ports.
set -euo pipefail

packages=(slapd ldap-utils redis-server postgresql wrk)  # wrk: the load of make bench

missing=()
for pkg in "${packages[@]}"; do
    # "install ok installed" excludes removed-but-not-purged (config-files) state.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-debian-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-debian-deps: not root, skipping; run as root or:" >&2
    echo "    sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 0
fi

echo "install-debian-deps: installing ${missing[*]}" >&2

# Without this, slapd's postinst creates a system database and starts a daemon
# on port 389; the tests only need the binaries and modules.
if printf '%s\n' "${missing[@]}" | grep -qx slapd; then
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
fi

# Keep maintainer scripts from starting freshly installed daemons (redis,
# postgresql) on the standard ports. Only when no policy exists already, and
# removed again afterwards; running services are not touched either way.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
