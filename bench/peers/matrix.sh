#!/usr/bin/env bash
# The whole comparison: every server of peers.sh, every ftpbench scenario,
# RUNS runs each (default 3), then a markdown table and an SVG chart of the
# ratios (ftpbench report). Bounded: each scenario has a count and a
# duration; each server is stopped by the pid peers.sh printed.
#
#   bench/peers/matrix.sh [OUT_DIR]      (as root: installs the peers)
#   SERVERS="gnetftp vsftpd" RUNS=1 bench/peers/matrix.sh /tmp/out
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/bench/results}
dir=${PEERS_DIR:-/dev/shm/ftpbench-peers}
runs=${RUNS:-3}
servers=${SERVERS:-$("$here/peers.sh" names)}
mkdir -p "$out"
"$here/peers.sh" setup "$dir"
(cd "$repo" && go build -o "$dir/ftpbench" ./cmd/ftpbench)
fb="$dir/ftpbench"
common=(--user ftpbench --pass ftpbench --quiet --timeout 60s)
# Control ports above the kernel's ephemeral range (where the load
# generator's own connections take their source ports, which would make a
# server's bind fail now and then) and above the passive range below it.
port=${BASE_PORT:-$(( $(awk '{print $2}' /proc/sys/net/ipv4/ip_local_port_range) + 1 ))}
for s in $servers; do
	for run in $(seq 1 "$runs"); do
		port=$((port + 1))
		pid=$("$here/peers.sh" start "$s" "$dir" "$port")
		a=(--addr "127.0.0.1:$port" "${common[@]}")
		o="$out/$s"
		mkdir -p "$o"
		echo "matrix: $s run $run (pid $pid, port $port)" >&2
		"$fb" idle "${a[@]}" --n 1000,4000 --pid "$pid" --json "$o/idle-$run.json" || true
		"$fb" logins "${a[@]}" --pid "$pid" -c 50 --duration 5s --json "$o/logins-$run.json" || true
		"$fb" small "${a[@]}" --pid "$pid" --file small.bin -c 50 --duration 5s --json "$o/small-$run.json" || true
		"$fb" retr "${a[@]}" --file big.bin --json "$o/retr-$run.json" || true
		"$fb" stor "${a[@]}" --size 1GiB --json "$o/stor-$run.json" || true
		rm -f "$dir/root"/ftpbench-*.bin
		"$fb" list "${a[@]}" --pid "$pid" --dir bigdir --count 10 --json "$o/list-$run.json" || true
		"$fb" latency "${a[@]}" --file big.bin -m 50 -k 8 --duration 5s --json "$o/latency-$run.json" || true
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		sleep 1
	done
done
"$fb" loopback --file "$dir/root/big.bin" --json "$out/loopback.json"
"$fb" report --dir "$out" --markdown "$out/results.md" --svg "$out/ratios.svg"
cat "$out/results.md"
