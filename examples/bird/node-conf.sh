#!/usr/bin/env bash
# Prints one node's BIRD 2 configuration for ptp's routed mode (Calico-style cross-node routing):
# the node's own values as BIRD constants, then `include`s of this directory's shared files
# (common.conf, ipv4.conf, ipv6.conf), then one BGP session per peer and family (a full mesh).
#
#   node-conf.sh --address4 192.168.26.105 --pool4 10.244.0.0/16 --block4 10.244.169.64/26 \
#                --address6 fd00:26::105 --pool6 fd00:10:244::/56 --block6 fd00:10:244:0:a9::/122 \
#                --peer4 192.168.26.106 --peer6 fd00:26::106 > /etc/bird/bird.conf
#
# Options (a family's three values go together; at least one family):
#   --address4 A, --address6 A   the node's address on the network the peers share
#   --pool4 P, --pool6 P         the cluster's whole pod range
#   --block4 P, --block6 P       this node's pod block (its host-local range)
#   --peer4 A, --peer6 A         another node's address; repeat for each (not this node's own)
#   --router-id ID               default: --address4 (required for an IPv6-only node)
#   --asn N                      the cluster's AS, default 64512 (a private AS)
#   --hold-time S                default 240 (BIRD's default); --keepalive-time S, default a third
#   --log FILE                   log to FILE instead of syslog
#   --include-dir DIR            where the shared files are, default this script's directory
set -euo pipefail

die() {
  echo "node-conf.sh: $*" >&2
  exit 2
}

ipv4='([0-9]{1,3}\.){3}[0-9]{1,3}'
ipv6='[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7}'
# Values end up inside a BIRD configuration: only address, prefix and number shapes get through
# (BIRD itself rejects what is out of range when it reads the file).
check() {
  local what=$1 value=$2 re=$3
  [[ $value =~ ^($re)$ ]] || die "$what: not valid: '$value'"
}

address4='' address6='' pool4='' pool6='' block4='' block6='' router_id='' asn=64512 hold=240 keepalive='' log=''
include_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peers4=() peers6=()
while (($#)); do
  (($# >= 2)) || die "$1 needs a value"
  case $1 in
    --address4) check "$1" "$2" "$ipv4" && address4=$2 ;;
    --address6) check "$1" "$2" "$ipv6" && address6=$2 ;;
    --pool4) check "$1" "$2" "$ipv4/[0-9]{1,2}" && pool4=$2 ;;
    --pool6) check "$1" "$2" "$ipv6/[0-9]{1,3}" && pool6=$2 ;;
    --block4) check "$1" "$2" "$ipv4/[0-9]{1,2}" && block4=$2 ;;
    --block6) check "$1" "$2" "$ipv6/[0-9]{1,3}" && block6=$2 ;;
    --peer4) check "$1" "$2" "$ipv4" && peers4+=("$2") ;;
    --peer6) check "$1" "$2" "$ipv6" && peers6+=("$2") ;;
    --router-id) check "$1" "$2" "$ipv4" && router_id=$2 ;;
    --asn) check "$1" "$2" '[0-9]{1,10}' && asn=$2 ;;
    --hold-time) check "$1" "$2" '[0-9]{1,5}' && hold=$2 ;;
    --keepalive-time) check "$1" "$2" '[0-9]{1,5}' && keepalive=$2 ;;
    --log) check "$1" "$2" '/[^"\\[:cntrl:]]+' && log=$2 ;;
    --include-dir) check "$1" "$2" '/[^"\\[:cntrl:]]*' && include_dir=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done

family() {
  local v=$1 address=$2 pool=$3 block=$4
  if [[ -n $address$pool$block && (-z $address || -z $pool || -z $block) ]]; then die "--address$v, --pool$v and --block$v go together"; fi
  [[ -n $address ]]
}
has4=false has6=false
family 4 "$address4" "$pool4" "$block4" && has4=true
family 6 "$address6" "$pool6" "$block6" && has6=true
$has4 || $has6 || die "give --address4/--pool4/--block4 and/or --address6/--pool6/--block6"
((${#peers4[@]} == 0)) || $has4 || die "--peer4 without an IPv4 node address"
((${#peers6[@]} == 0)) || $has6 || die "--peer6 without an IPv6 node address"
router_id=${router_id:-$address4}
[[ -n $router_id ]] || die "an IPv6-only node needs --router-id (a unique IPv4-shaped id)"
keepalive=${keepalive:-$((hold / 3))}

# A BIRD protocol name from an address: mesh4_192_168_26_106, mesh6_fd00_26__106.
name() { echo "mesh$1_${2//[.:]/_}"; }

echo "# BIRD 2 configuration of the node $router_id, written by examples/bird/node-conf.sh."
echo
if [[ -n $log ]]; then echo "log \"$log\" all;"; else echo 'log syslog all;'; fi
echo "router id $router_id;"
echo
echo "define NODE_ASN = $asn;"
echo "define BGP_HOLD_TIME = $hold;"
echo "define BGP_KEEPALIVE_TIME = $keepalive;"
if $has4; then printf 'define NODE_ADDR4 = %s;\ndefine POD_POOL4 = %s;\ndefine POD_BLOCK4 = %s;\n' "$address4" "$pool4" "$block4"; fi
if $has6; then printf 'define NODE_ADDR6 = %s;\ndefine POD_POOL6 = %s;\ndefine POD_BLOCK6 = %s;\n' "$address6" "$pool6" "$block6"; fi
echo
echo "include \"$include_dir/common.conf\";"
if $has4; then echo "include \"$include_dir/ipv4.conf\";"; fi
if $has6; then echo "include \"$include_dir/ipv6.conf\";"; fi
echo
for p in "${peers4[@]}"; do echo "protocol bgp $(name 4 "$p") from cni_mesh4 { neighbor $p as NODE_ASN; }"; done
for p in "${peers6[@]}"; do echo "protocol bgp $(name 6 "$p") from cni_mesh6 { neighbor $p as NODE_ASN; }"; done
