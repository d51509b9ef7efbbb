#!/usr/bin/env bash
# End to end on a real cluster: a kind cluster, the runtime image built and loaded into it, the
# install (`pulumi up` on the `ci` stack, local backend), examples/channel-fanout with a small
# sink, events posted to the `orders` channel and awaited at every subscriber (and at the reply
# channel's), then the topology deleted and `pulumi destroy`, which must leave the CRDs.
#
#   scripts/e2e-kind.sh             all steps; the cluster is left for inspection
#   scripts/e2e-kind.sh STEP...     some steps: cluster image install topology events uninstall
#   scripts/e2e-kind.sh diagnose    what the cluster shows (pods, events, logs), e.g. after a failure
#   kind delete cluster --name eventwire-e2e   when done
#
# Needs docker, kind (0.29 or later: Kubernetes 1.33), kubectl and the Pulumi CLI on PATH, and
# Python 3.11 (scripts/setup-python.sh makes .venv). .github/workflows/e2e.yml runs it in CI.
# The local backend keeps state in ~/.pulumi; the stack's secrets use PULUMI_CONFIG_PASSPHRASE
# (the ci stack holds none). Every wait is bounded by E2E_TIMEOUT seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-eventwire-e2e}
STACK=ci
NAMESPACE=shop
EVENTS=${E2E_EVENTS:-5}
TIMEOUT=${E2E_TIMEOUT:-300}
# .venv has the component library (the program pulumi runs) and PyYAML for the lines below.
scripts/setup-python.sh
# The image the ci stack pulls: the default repository and the stack's tag.
REPOSITORY=$(.venv/bin/python -c 'import yaml; print(yaml.safe_load(open("Pulumi.yaml"))["config"]["imageRepository"]["default"])')
TAG=$(.venv/bin/python -c 'import yaml; print(yaml.safe_load(open("stacks/Pulumi.ci.yaml"))["config"]["eventwire:imageTag"])')
IMAGE="$REPOSITORY:$TAG"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-eventwire-e2e}
export PULUMI_SKIP_UPDATE_CHECK=true

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'e2e: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed (see the header of $0)"; }

step_cluster() {
    log "kind cluster $CLUSTER"
    need kind
    need kubectl
    if ! kind get clusters | grep -qx "$CLUSTER"; then
        kind create cluster --name "$CLUSTER" --wait "${TIMEOUT}s"
    fi
    kubectl config use-context "kind-$CLUSTER"
}

step_image() {
    log "runtime image $IMAGE"
    need docker
    docker build -f runtime/Dockerfile -t "$IMAGE" .
    kind load docker-image "$IMAGE" --name "$CLUSTER"
}

step_install() {
    log "pulumi up --stack $STACK"
    need pulumi
    pulumi login --local
    pulumi stack select "$STACK" --create --secrets-provider passphrase
    # The stack's kubeContext stays empty: the current context, kind-$CLUSTER, is the target.
    kubectl config use-context "kind-$CLUSTER"
    pulumi up --yes --skip-preview --stack "$STACK"
}

step_topology() {
    log "examples/channel-fanout in $NAMESPACE, with the sink"
    mkdir -p build/e2e
    .venv/bin/python scripts/e2e/topology.py --image "$IMAGE" > build/e2e/topology.yaml
    kubectl apply -f build/e2e/topology.yaml
    kubectl -n "$NAMESPACE" rollout status deployment/e2e-sink --timeout="${TIMEOUT}s"
    kubectl -n "$NAMESPACE" wait --for=condition=Ready channels.messaging.eventwire.dev --all --timeout="${TIMEOUT}s"
    kubectl -n "$NAMESPACE" wait --for=condition=Ready subscriptions.messaging.eventwire.dev --all --timeout="${TIMEOUT}s"
}

# Wait until the sink logged `pattern` (a fixed string), at most TIMEOUT seconds.
await_log() {
    local pattern=$1 deadline=$((SECONDS + TIMEOUT))
    until kubectl -n "$NAMESPACE" logs deployment/e2e-sink | grep -qF -- "$pattern"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no '$pattern' in the sink's log after ${TIMEOUT}s"
        sleep 2
    done
}

step_events() {
    log "$EVENTS events into orders, awaited at audit, enricher and (replies) notifier"
    local url prefix index
    url=$(kubectl -n "$NAMESPACE" get channels.messaging.eventwire.dev orders -o jsonpath='{.status.address.url}')
    [ -n "$url" ] || fail "channel orders has no address"
    prefix="e2e-$(date +%s)"
    kubectl -n "$NAMESPACE" exec deployment/e2e-sink -- python /e2e/produce.py "$url" "$EVENTS" "$prefix"
    for ((index = 0; index < EVENTS; index++)); do
        await_log "service=audit path=/ id=$prefix-$index "
        await_log "service=enricher path=/v1/enrich id=$prefix-$index "
        await_log "service=notifier path=/events id=$prefix-$index-enriched "
    done
    echo "all $EVENTS events arrived at every subscriber"
}

step_uninstall() {
    log "uninstall: the topology first (the controller still runs), then pulumi destroy"
    if [ -f build/e2e/topology.yaml ]; then
        kubectl delete -f build/e2e/topology.yaml --ignore-not-found --wait --timeout="${TIMEOUT}s"
    fi
    timeout "$((TIMEOUT * 3))" pulumi destroy --yes --skip-preview --stack "$STACK"
    kubectl get crd channels.messaging.eventwire.dev >/dev/null || fail "destroy removed the CRDs (retainCrdsOnDelete is on)"
    if kubectl get namespace eventwire-system >/dev/null 2>&1; then
        kubectl wait --for=delete namespace/eventwire-system --timeout="${TIMEOUT}s"
    fi
    echo "destroy completed; the CRDs were kept"
}

step_diagnose() {
    kubectl get pods -A -o wide || true
    kubectl get channels.messaging.eventwire.dev,subscriptions.messaging.eventwire.dev -A -o yaml || true
    kubectl -n eventwire-system get events --sort-by=.lastTimestamp || true
    for deployment in $(kubectl -n eventwire-system get deployments -o name 2>/dev/null); do
        kubectl -n eventwire-system logs "$deployment" --all-containers --tail=200 || true
    done
    kubectl -n "$NAMESPACE" logs deployment/e2e-sink --tail=200 || true
}

main() {
    local steps=("$@")
    [ ${#steps[@]} -gt 0 ] || steps=(cluster image install topology events uninstall)
    for step in "${steps[@]}"; do
        case "$step" in
            cluster | image | install | topology | events | uninstall | diagnose) "step_$step" ;;
            *) fail "unknown step '$step' (cluster image install topology events uninstall diagnose)" ;;
        esac
    done
}

main "$@"
