#!/usr/bin/env bash
# The latency floor of an ICMP echo answered from user space through a TAP, against the kernel:
# 400 pings at 10 ms (one request per quiet spell, as issue 14's measurement) to each responder,
# printing the median, p10 and p90 RTT:
#   kernel-veth   the kernel answers: a veth peer in a second namespace (one hop, no user space)
#   c-tap         bench/c/tap-echo.c: epoll_wait + read + write on a TAP
#   node-addon    bench/latency/node-tap-echo.mjs: tapvs's addon (uv_poll, napi_make_callback,
#                 fused flush), as tapvsd receives
#   node-sync     bench/latency/node-sync-echo.mjs: a bench-only addon, JavaScript blocks in
#                 epoll_wait + read (no libuv, no callback entry)
#   tapvsd-vip    tapvsd in the lab (lab/textbook.rules), answering a ping to its VIP
#                 (skipped with --no-lab; the lab is brought up and down here)
# The TAP responders sit on a persistent TAP in their own namespace, 10.9.0.1/24 on the kernel
# side, with a static neighbour entry for 10.9.0.2 (the responder) so no ARP is involved.
# With --cpu, each responder's CPU time during the 400 pings (perf stat -e task-clock on its PID:
# user and kernel, the TAP write's trip through the receiving stack included) per ping.
#   flock /tmp/tapvs-lab.lock bash bench/latency-floor.sh [--no-lab] [--cpu] [--tapvsd-arg=ARG ...]
# Root. Needs scripts/setup.sh done (addon, dist/) and gcc. Everything runs in namespaces made
# here (named after this script's PID) and is removed on exit, failures included; every process
# is bounded by `timeout` and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

lab=1
cpu=0
tapvsd_args=()
for a in "$@"; do
  case "$a" in
    --no-lab) lab=0 ;;
    --cpu) cpu=1 ;;
    --tapvsd-arg=*) tapvsd_args+=("$a") ;;
    *) echo "usage: $0 [--no-lab] [--cpu] [--tapvsd-arg=ARG ...]" >&2; exit 2 ;;
  esac
done

ns_tap=tfloor-$$-tap
ns_a=tfloor-$$-a
ns_b=tfloor-$$-b
work=$(mktemp -d /tmp/latency-floor.XXXXXX)
responder=
responder_pid=
lab_up=0

cleanup() {
  if [ -n "$responder" ]; then kill "$responder" 2>/dev/null || true; wait "$responder" 2>/dev/null || true; fi
  for ns in "$ns_tap" "$ns_a" "$ns_b"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "$lab_up" = 1 ]; then timeout 60 node dist/lab/lab.js down >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 400 pings at 10 ms from namespace $2 to $3; prints "name median p10 p90 (ms), received" and,
# with --cpu and a responder PID $4, its CPU time per ping.
measure() {
  local name=$1 ns=$2 target=$3 pid=${4:-} perf=
  ip netns exec "$ns" ping -c 50 -i 0.01 -W 1 -q "$target" >/dev/null || true # warm-up: ARP, JIT
  if [ "$cpu" = 1 ] && [ -n "$pid" ]; then
    timeout 60 perf stat -x, -e task-clock -p "$pid" -o "$work/perf.txt" &
    perf=$!
  fi
  local line
  line=$(ip netns exec "$ns" timeout 30 ping -c 400 -i 0.01 -W 1 "$target" | grep -o 'time=[0-9.]*' | cut -d= -f2 |
    sort -n | awk -v n="$name" '{a[NR]=$1} END {
      if (NR == 0) { printf "%-12s no replies", n; exit }
      printf "%-12s median=%.3f p10=%.3f p90=%.3f ms (%d/400 replies)", n, a[int((NR+1)/2)], a[int(NR*0.1)+1], a[int(NR*0.9)], NR }')
  if [ -n "$perf" ]; then
    kill -INT "$perf" 2>/dev/null || true
    wait "$perf" 2>/dev/null || true
    line+=$(awk -F, '/task-clock/ {printf " cpu/ping=%.1f us", $1 * 1000 / 400}' "$work/perf.txt")
  fi
  echo "$line"
}

# Starts a responder (the rest of the arguments) in the TAP namespace, waits for its "ready".
start_responder() {
  ip netns exec "$ns_tap" timeout 120 "$@" >"$work/responder.out" 2>&1 &
  responder=$!
  for _ in $(seq 100); do
    if grep -q ready "$work/responder.out" 2>/dev/null; then
      responder_pid=$(pgrep -P "$responder" | head -1) # timeout's child: the responder itself
      return 0
    fi
    kill -0 "$responder" 2>/dev/null || break
    sleep 0.05
  done
  echo "responder $1 did not start:" >&2
  cat "$work/responder.out" >&2
  exit 1
}

stop_responder() {
  kill "$responder" 2>/dev/null || true
  wait "$responder" 2>/dev/null || true
  responder=
}

gcc -O2 -Wall -o "$work/tap-echo" bench/c/tap-echo.c
if [ ! -f bench/latency/sync-tap/build/Release/sync_tap.node ]; then
  (cd bench/latency/sync-tap && npm_config_nodedir=/usr ../../../node_modules/.bin/node-gyp rebuild >/dev/null)
fi

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) node $(node --version) $(uname -r)"

# Kernel: a veth pair between two namespaces, ping the peer.
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add fl0 netns "$ns_a" type veth peer name fl1 netns "$ns_b"
ip -n "$ns_a" addr add 10.9.1.1/24 dev fl0
ip -n "$ns_b" addr add 10.9.1.2/24 dev fl1
ip -n "$ns_a" link set fl0 up
ip -n "$ns_b" link set fl1 up
measure kernel-veth "$ns_a" 10.9.1.2

# The TAP responders: one persistent TAP, attached by each in turn.
ip netns add "$ns_tap"
ip -n "$ns_tap" tuntap add dev ftap0 mode tap
ip -n "$ns_tap" addr add 10.9.0.1/24 dev ftap0
ip -n "$ns_tap" link set ftap0 up
ip -n "$ns_tap" neigh replace 10.9.0.2 lladdr 02:00:00:00:00:02 dev ftap0 nud permanent

start_responder "$work/tap-echo" ftap0
measure c-tap "$ns_tap" 10.9.0.2 "$responder_pid"
stop_responder
start_responder node bench/latency/node-tap-echo.mjs ftap0 110
measure node-addon "$ns_tap" 10.9.0.2 "$responder_pid"
stop_responder
start_responder node bench/latency/node-sync-echo.mjs ftap0 110
measure node-sync "$ns_tap" 10.9.0.2 "$responder_pid"
stop_responder

if [ "$lab" = 1 ]; then
  lab_up=1
  timeout 120 node dist/lab/lab.js up --rules lab/textbook.rules "${tapvsd_args[@]}" >/dev/null
  measure tapvsd-vip tapvs-client 192.168.222.131 "$(cat /run/tapvs-lab/pids/tapvsd)"
fi
