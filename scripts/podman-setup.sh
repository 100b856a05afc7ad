#!/usr/bin/env bash
# Install and configure rootful podman on a Debian bookworm host without Docker or registry access,
# and build a local base image (bookworm + python3) with debootstrap.
#
#   sudo ./scripts/podman-setup.sh            # idempotent; prints the base image name at the end
#
# Standard output carries exactly one line, the base image name (scripts/docker-check.sh captures
# it); everything else (apt-get, debootstrap, podman, progress) goes to standard error.
#
# Environment:
#   BASE_IMAGE_NAME   name of the local base image (default localhost/quotebot-base:bookworm)
#   DEBIAN_MIRROR     debootstrap mirror (default http://deb.debian.org/debian)
#   REBUILD_BASE=1    rebuild the base image even when it exists
set -euo pipefail

BASE_IMAGE_NAME=${BASE_IMAGE_NAME:-localhost/quotebot-base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CONTAINERS_CONF=${CONTAINERS_CONF:-/etc/containers/containers.conf}

# Keep the real stdout on fd 3 for the image name; every command below writes to stderr.
exec 3>&1 1>&2

log() { printf 'podman-setup: %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "run as root (rootful podman with runc and cgroupfs is the recipe that works on these machines)"
    exit 1
fi

# 1. Packages.
need=()
for pair in podman:podman runc:runc debootstrap:debootstrap; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# 2. No default ulimits: the container runtime may not raise nofile/nproc inside this sandbox.
conf=$CONTAINERS_CONF
if ! grep -qs '^default_ulimits *= *\[\]' "$conf"; then
    log "writing default_ulimits = [] to $conf"
    mkdir -p "$(dirname "$conf")"
    if grep -qs '^\[containers\]' "$conf"; then
        sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
    else
        printf '[containers]\ndefault_ulimits = []\n' >>"$conf"
    fi
fi

# 3. Smoke test of the runtime flags every other script uses.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
"${PODMAN[@]}" info >/dev/null

# 4. Base image: no registry is reachable, so bootstrap bookworm (python3 is 3.11, like the torch wheel).
if [[ -z ${REBUILD_BASE:-} ]] && "${PODMAN[@]}" image exists "$BASE_IMAGE_NAME"; then
    log "base image $BASE_IMAGE_NAME exists (REBUILD_BASE=1 to rebuild)"
else
    root=$(mktemp -d /var/tmp/quotebot-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    log "debootstrap bookworm into $root (a few minutes)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$root" "$DEBIAN_MIRROR"
    # Keep the image small: package caches and lists are not needed at run time.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    log "importing $root as $BASE_IMAGE_NAME"
    tar -C "$root" -c . | "${PODMAN[@]}" import \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE_NAME" >/dev/null
fi
"${PODMAN[@]}" run --rm --network=host "$BASE_IMAGE_NAME" python3 --version
echo "$BASE_IMAGE_NAME" >&3
