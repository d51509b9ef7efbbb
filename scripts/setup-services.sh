#!/usr/bin/env bash
# Install the real servers the runtime tests talk to over loopback: nats-server (JetStream),
# redis-server, nginx and wrk (benchmark reference and load generator), shellcheck, which
# checks the project's shell scripts, and chromium with chromedriver (the eventwire dev viewer's
# browser tests). Tests start their own instances on free ports; this only makes the binaries
# available.
set -euo pipefail
need=()
for bin in nats-server redis-server nginx wrk shellcheck chromium chromedriver; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
pkgs=()
for bin in "${need[@]}"; do
    case "$bin" in
        nats-server) pkgs+=(nats-server) ;;
        redis-server) pkgs+=(redis-server) ;;
        nginx) pkgs+=(nginx-light) ;;
        wrk) pkgs+=(wrk) ;;
        shellcheck) pkgs+=(shellcheck) ;;
        chromium) pkgs+=(chromium) ;;
        chromedriver) pkgs+=(chromium-driver) ;;
    esac
done
if [ ${#pkgs[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    # Debian starts packaged daemons on install; the tests run their own on free ports.
    for svc in redis-server nginx; do
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi
# The Pub/Sub emulator ships with the Google Cloud CLI, which is not in Debian's archive.
if ! command -v gcloud >/dev/null 2>&1; then
    echo "note: gcloud not found; the GcpPubSubSource tests need the Pub/Sub emulator:" >&2
    echo "      install google-cloud-cli and google-cloud-cli-pubsub-emulator (cloud.google.com/sdk/docs/install)" >&2
fi
