#!/usr/bin/env bash
# Demo of the main job, on a fresh Debian machine as root: install what is missing, build, then
# attach two pod namespaces to a bridge with cni-ts (bridge + host-local), print their results,
# ping one from the other, CHECK, DEL, and remove everything again.
#
# Everything happens inside throwaway namespaces: the plugins run inside a "node" namespace, so the
# machine's own network namespace, /var/lib/cni and firewall are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build

id=$$
node="cnits-demo-node-$id"
pods=("cnits-demo-a-$id" "cnits-demo-b-$id")
data=$(mktemp -d /tmp/cnits-demo.XXXXXX)
cleanup() {
  for ns in "$node" "${pods[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

ip netns add "$node"
for ns in "${pods[@]}"; do ip netns add "$ns"; done

config=$(cat <<EOF
{
  "cniVersion": "1.1.0",
  "name": "demo",
  "type": "bridge",
  "bridge": "cni0",
  "isGateway": true,
  "ipMasq": true,
  "ipam": {
    "type": "host-local",
    "dataDir": "$data",
    "ranges": [[{ "subnet": "10.88.0.0/24" }]],
    "routes": [{ "dst": "0.0.0.0/0" }]
  }
}
EOF
)

plugin() { # plugin <command> <pod> [stdin]
  CNI_COMMAND=$1 CNI_CONTAINERID="demo-$2" CNI_NETNS="/run/netns/$2" CNI_IFNAME=eth0 CNI_PATH="$PWD/dist" \
    ip netns exec "$node" "$PWD/dist/bridge" <<<"${3:-$config}"
}

declare -A result
for pod in "${pods[@]}"; do
  echo "== ADD $pod"
  result[$pod]=$(plugin ADD "$pod")
  echo "${result[$pod]}"
done

peer=$(node -e 'console.log(JSON.parse(process.argv[1]).ips[0].address.split("/")[0])' "${result[${pods[1]}]}")
echo "== ping from ${pods[0]} to ${pods[1]} ($peer)"
ip netns exec "${pods[0]}" ping -c 3 -W 2 "$peer"

echo "== CHECK ${pods[0]}"
with_prev=$(node -e 'const c = JSON.parse(process.argv[1]); c.prevResult = JSON.parse(process.argv[2]); console.log(JSON.stringify(c))' \
  "$config" "${result[${pods[0]}]}")
plugin CHECK "${pods[0]}" "$with_prev" && echo "CHECK ok"

for pod in "${pods[@]}"; do
  echo "== DEL $pod"
  plugin DEL "$pod" && echo "DEL ok"
done
echo "== leases left in $data/demo: $(ls "$data/demo" | grep -cv -e '^lock$' -e '^last_reserved_ip' || true)"
