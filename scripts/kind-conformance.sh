#!/usr/bin/env bash
# Kubernetes network conformance on a kind cluster with our plugins.
#
# NOT RUN on this project's machines: kind needs a Docker (or Podman) engine and ours have none.
# Run it on a workstation with docker, kind, kubectl and sonobuoy (or hydrophone) in PATH:
#
#   bash scripts/kind-conformance.sh            # 1 control plane + 2 workers, sig-network conformance
#   KEEP=1 bash scripts/kind-conformance.sh     # keep the cluster afterwards
#
# Recipe: kind's default CNI (kindnetd) keeps doing what is not a CNI plugin's job — routes between
# nodes' pod CIDRs and its masquerade chain — and keeps writing its usual conflist
# (ptp + host-local + portmap). We replace `ptp` and `host-local` in every node's
# /opt/cni/bin with our standalone build (no Node.js in kind's node image), installed the same
# atomic way as scripts/install-plugins.mjs: copy to a temp name, then rename over the old file.
# Every pod created afterwards is wired by our plugins; the script restarts CoreDNS so that the
# cluster's own pods are ours too, then runs the [sig-network] [Conformance] e2e tests.
set -euo pipefail

CLUSTER=${CLUSTER:-cni-ts}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-conformance: $tool not found" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "kind-conformance: no Docker engine (kind cannot run here)" >&2; exit 1; }

(cd "$ROOT" && npm run -s build:standalone)
BIN="$ROOT/dist/bin/cni-ts"

cat >"/tmp/$CLUSTER-kind.yaml" <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
EOF
kind create cluster --name "$CLUSTER" --config "/tmp/$CLUSTER-kind.yaml" --wait 5m
cleanup() { [ "${KEEP:-0}" = 1 ] || kind delete cluster --name "$CLUSTER"; }
trap cleanup EXIT

for node in $(kind get nodes --name "$CLUSTER"); do
  docker cp "$BIN" "$node:/opt/cni/bin/.cni-ts.new"
  docker exec "$node" sh -euc '
    cd /opt/cni/bin
    chmod 0755 .cni-ts.new && mv -f .cni-ts.new cni-ts
    for p in ptp host-local; do ln -sfn cni-ts ".$p.new" && mv -fT ".$p.new" "$p"; done
    echo "$(hostname): $(CNI_COMMAND=VERSION ./ptp)"'
done

# Pods created before the swap (CoreDNS) were wired by the reference plugins: recreate them.
kubectl -n kube-system rollout restart deployment/coredns
kubectl -n kube-system rollout status deployment/coredns --timeout=3m

# A quick smoke test before the long run: two pods on different nodes reach each other.
kubectl run cnits-a --image=busybox:1.36 --restart=Never --overrides='{"spec":{"nodeName":"'"$CLUSTER"'-worker"}}' -- sleep 3600
kubectl run cnits-b --image=busybox:1.36 --restart=Never --overrides='{"spec":{"nodeName":"'"$CLUSTER"'-worker2"}}' -- sleep 3600
kubectl wait --for=condition=Ready pod/cnits-a pod/cnits-b --timeout=3m
ip_b=$(kubectl get pod cnits-b -o jsonpath='{.status.podIP}')
kubectl exec cnits-a -- ping -c 3 "$ip_b"
kubectl delete pod cnits-a cnits-b --wait=false

FOCUS='\[sig-network\].*\[Conformance\]'
if command -v sonobuoy >/dev/null; then
  sonobuoy run --e2e-focus "$FOCUS" --wait
  results=$(sonobuoy retrieve)
  sonobuoy results "$results"
elif command -v hydrophone >/dev/null; then
  hydrophone --focus "$FOCUS"
else
  echo "kind-conformance: install sonobuoy or hydrophone to run the e2e conformance tests" >&2
  exit 1
fi
