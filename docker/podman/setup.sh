#!/usr/bin/env bash
# Prepare podman to run docker/compose.yaml on a machine with no Docker engine and
# no registry (`make compose-test`): install podman and what it needs from Debian,
# make the python:3.11-slim base image from Debian's packages when it cannot be
# pulled, then build the project's image (docker/Dockerfile, unchanged) and the
# Prometheus/Alertmanager image of Debian's packages. Podman's settings come from
# docker/podman/containers.conf (CONTAINERS_CONF), never from /etc.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="$PWD/docker/podman/containers.conf"
BASE=docker.io/library/python:3.11-slim
say() { echo "compose-test: $*" >&2; }

if ! command -v podman >/dev/null || ! command -v podman-compose >/dev/null \
        || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null \
        || ! command -v iptables >/dev/null; then
    say "installing podman, podman-compose, runc, iptables and debootstrap from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        podman podman-compose runc debootstrap buildah netavark aardvark-dns iptables \
        slirp4netns uidmap >/dev/null  # netavark sets up the stack's network with iptables
fi

make_base_image() {
    local rootfs mirror
    rootfs=$(mktemp -d)
    # The Debian mirror apt uses here (deb822 or one-line sources).
    mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
             | sed -n 's/^URIs: *//p; s/^deb  *\(\[[^]]*\] *\)\?//p' \
             | awk '$1 ~ /\/debian\/?$/ {print $1; exit}' || true)
    say "making $BASE from Debian's packages (debootstrap, ${mirror:-deb.debian.org})"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    tar -C "$rootfs" -cf - . | podman import -q --change 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$rootfs"
}

if ! podman image exists "$BASE"; then
    timeout 60 podman pull -q "$BASE" >/dev/null 2>&1 || make_base_image
fi

# pip inside the build trusts the CA bundle pip uses here: mounted read-only for the
# build only, never copied into an image.
ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
ca=${ca:-/etc/ssl/certs/ca-certificates.crt}
build_conf=$(mktemp -d)
trap 'rm -rf "$build_conf"' EXIT
printf '[global]\ncert = %s\n' "$ca" > "$build_conf/pip.conf"
say "building volstream:latest from docker/Dockerfile"
podman build -q --network host --pull=never -v "$ca:$ca:ro" \
    -v "$build_conf/pip.conf:/etc/pip.conf:ro" -f docker/Dockerfile -t volstream:latest . >/dev/null
say "building volstream-monitoring:latest (Prometheus and Alertmanager from Debian)"
podman build -q --network host --pull=never -f docker/podman/Containerfile.monitoring \
    -t volstream-monitoring:latest docker/podman >/dev/null
say "ready; Grafana is left out: no image of it can be had on this machine"
