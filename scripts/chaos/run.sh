#!/usr/bin/env bash
# Chaos harness: a gateway and N node agents as separate hosts in network namespaces this
# script creates, node uplinks shaped with tc tbf, a fault proxy per node, and driver.py
# injecting faults under a steady streaming load. Everything stays inside these
# namespaces and loopback, and is torn down on exit.
#
#   scripts/chaos/run.sh [driver options, e.g. --engine fake|sim|llama --rounds 3 --json out.json]
#
# Env: HEARTH_BIN (default .build/debug/hearth), CHAOS_NODES (3), CHAOS_UPLINK (tbf rate, 20mbit),
#      CHAOS_PREFIX (namespace prefix, hearth), CHAOS_REQUIRE=1 to fail instead of skipping,
#      CHAOS_KEEP=1 to keep the work folder (logs, fleet.sqlite) after a passing run.
set -euo pipefail
cd "$(dirname "$0")/../.."

prefix=${CHAOS_PREFIX:-hearth}
nodes=${CHAOS_NODES:-3}
uplink=${CHAOS_UPLINK:-20mbit}
hearth=$(realpath "${HEARTH_BIN:-.build/debug/hearth}")

skip() {
    echo "chaos: skipped: $1" >&2
    [ "${CHAOS_REQUIRE:-0}" = 1 ] && exit 1
    exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root and ip netns (not root)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "needs root and ip netns (ip netns unavailable)"
command -v tc >/dev/null || skip "needs tc (iproute2)"
# Root in a container may still lack the capability to make namespaces: try one.
probe="$prefix-probe-$$"
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here (no CAP_SYS_ADMIN?)"
ip netns exec "$probe" ip link set lo up 2>/dev/null && ip netns exec "$probe" tc qdisc add dev lo root tbf rate 20mbit burst 32kbit latency 100ms 2>/dev/null \
    || { ip netns del "$probe"; skip "cannot shape links with tc tbf in a namespace here"; }
ip netns del "$probe"
[ -x "$hearth" ] || { echo "chaos: no hearth binary at $hearth: swift build --product hearth" >&2; exit 1; }

work=$(mktemp -d /tmp/hearth-chaos.XXXXXX)
namespaces=("$prefix-gw")
for i in $(seq 1 "$nodes"); do namespaces+=("$prefix-n$i"); done

cleanup() {
    status=$?
    trap - EXIT INT TERM
    for ns in "${namespaces[@]}"; do
        # Whatever still runs in a namespace (a crashed driver's children) goes with it.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true  # its veth ends and the bridge go with it
    done
    if [ "$status" = 0 ] && [ "${CHAOS_KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "chaos: logs in $work" >&2; fi
    exit "$status"
}
trap cleanup EXIT INT TERM

for ns in "${namespaces[@]}"; do
    ip netns del "$ns" 2>/dev/null || true  # left over from a run that was killed
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done

# The gateway's namespace holds a bridge, 10.77.0.1/24; each node has eth0 = 10.77.0.(10+i)
# on a veth pair whose other end is a bridge port.
gw="$prefix-gw"
ip -n "$gw" link add br0 type bridge
ip -n "$gw" addr add 10.77.0.1/24 dev br0
ip -n "$gw" link set br0 up
for i in $(seq 1 "$nodes"); do
    ns="$prefix-n$i"
    ip link add eth0 netns "$ns" type veth peer name "vn$i" netns "$gw"
    ip -n "$gw" link set "vn$i" master br0 up
    ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    # A home uplink: tbf caps what the node sends (netem is not in these kernels; the proxy adds delay and loss).
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$uplink" burst 32kbit latency 100ms
done

echo "chaos: $nodes nodes in namespaces $prefix-n1..$nodes, gateway in $gw, uplinks $uplink, work $work" >&2
# The driver runs in the gateway's namespace (clients reach the API on its loopback) and
# starts the node processes in theirs with ip netns exec.
ip netns exec "$gw" python3 scripts/chaos/driver.py --hearth "$hearth" --work "$work" --prefix "$prefix" --nodes "$nodes" "$@"
