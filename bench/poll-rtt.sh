#!/usr/bin/env bash
# Round trips through tapvsd per polling mode, by hand: for each argument (a --poll-budget in µs,
# or "busy" for --busy-poll) the lab is brought up with lab/textbook.rules, the client routes the
# real servers' network through the director, and 400 pings at 10 ms go to RS1 (request and reply
# both pass tapvsd) and to the VIP (answered by tapvsd); prints the median and p90 RTT of each.
#   flock /tmp/tapvs-lab.lock bash bench/poll-rtt.sh 0 50 200 busy
# Root; everything stays in the lab's namespaces; the lab is taken down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'node dist/lab/lab.js down >/dev/null 2>&1 || true' EXIT
for b in "$@"; do
  if [ "$b" = busy ]; then arg=--busy-poll; else arg=--poll-budget=$b; fi
  node dist/lab/lab.js up --rules lab/textbook.rules --tapvsd-arg=$arg >/dev/null
  ip netns exec tapvs-client ip route replace 192.168.2.0/24 via 192.168.222.131
  ip netns exec tapvs-client ping -c 50 -i 0.01 -q 192.168.2.129 >/dev/null
  for target in 192.168.2.129 192.168.222.131; do
    ip netns exec tapvs-client ping -c 400 -i 0.01 -W 1 "$target" | grep -o 'time=[0-9.]*' | cut -d= -f2 |
      sort -n | awk -v b="$b" -v t="$target" \
        '{a[NR]=$1} END {printf "poll=%s to=%s pings=%d median=%.3f ms p90=%.3f ms\n", b, t, NR, a[int(NR/2)], a[int(NR*0.9)]}'
  done
done
