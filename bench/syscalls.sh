#!/usr/bin/env bash
# System calls per new connection in tapvsd, per TAP io path, by hand: for each argument (a
# TAPVS_TAP_IO value: uring, readwrite, auto) the lab is brought up with lab/textbook.rules
# (offloads on, as the bench's `tapvsd`), warmed up 1 s, then the bench's new-connection load
# (two `wrk -t1 -c25 -H 'Connection: close'` at the VIP) runs for LOAD_SECONDS (default 5) while
# `perf stat` counts tapvsd's system calls (all its threads; tracepoints, no ptrace, so the
# process runs at its own speed). Prints connections/s, system calls per connection, in total and
# for the calls of the frame path, and tapvsd's CPU per 1,000 connections.
#   flock /tmp/tapvs-lab.lock bash bench/syscalls.sh uring readwrite
# TREE=DIR runs another built checkout's lab and tapvsd (a baseline); POLL_BUDGET=0 starts tapvsd
# with --poll-budget 0 (no adaptive polling: every epoll_wait is a wake-up, none a spin turn).
# Root, perf with the syscalls tracepoints; everything stays in the lab's namespaces; the lab is
# taken down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD_SECONDS=${LOAD_SECONDS:-5}
TREE=${TREE:-.}
LAB=("$TREE/dist/lab/lab.js")
[ -n "${POLL_BUDGET:-}" ] && LAB_ARGS=(--tapvsd-arg="--poll-budget=$POLL_BUDGET") || LAB_ARGS=()
VIP=192.168.222.131
CALLS=(io_uring_enter epoll_wait epoll_pwait read write readv writev futex)
EVENTS=raw_syscalls:sys_enter
for c in "${CALLS[@]}"; do EVENTS+=",syscalls:sys_enter_$c"; done
tmp=$(mktemp -d)
trap 'node "${LAB[@]}" down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
wrk_load() { # seconds, output file
  ip netns exec tapvs-client wrk -t1 -c25 -d"$1"s --timeout 2s -H 'Connection: close' "http://$VIP/" >"$2.a" &
  local other=$!
  ip netns exec tapvs-client wrk -t1 -c25 -d"$1"s --timeout 2s -H 'Connection: close' "http://$VIP/" >"$2.b"
  wait "$other"
}
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # user, system
for io in "$@"; do
  TAPVS_TAP_IO=$io node "${LAB[@]}" up --rules lab/textbook.rules "${LAB_ARGS[@]}" >/dev/null
  pid=$(cat /run/tapvs-lab/tapvsd.pid)
  wrk_load 1 "$tmp/warm"
  read -r u0 s0 < <(cpu_ticks "$pid")
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$tmp/perf" -- sleep "$LOAD_SECONDS" &
  perfPid=$!
  wrk_load "$LOAD_SECONDS" "$tmp/wrk"
  wait "$perfPid"
  read -r u1 s1 < <(cpu_ticks "$pid")
  conns=$(cat "$tmp/wrk.a" "$tmp/wrk.b" | awk '/requests in/ {n += $1} END {print n}')
  hz=$(getconf CLK_TCK)
  node "${LAB[@]}" down >/dev/null
  awk -F, -v io="$io${POLL_BUDGET:+ poll-budget=$POLL_BUDGET} tree=$TREE" -v conns="$conns" -v secs="$LOAD_SECONDS" -v user=$((u1 - u0)) -v sys=$((s1 - s0)) -v hz="$hz" '
    /^#/ || NF < 3 { next }
    { split($3, e, ":"); n[e[2]] = $1 }
    END {
      printf "io=%s conns=%d (%.0f/s) cpu_s_per_1000_conns=%.3f (user %.3f, system %.3f) syscalls_per_conn=%.2f",
        io, conns, conns / secs, (user + sys) / hz / conns * 1000, user / hz / conns * 1000,
        sys / hz / conns * 1000, n["sys_enter"] / conns
      for (k in n) if (k != "sys_enter" && n[k] > 0) printf " %s=%.2f", substr(k, 11), n[k] / conns
      printf "\n"
    }' "$tmp/perf"
done
