#!/usr/bin/env bash
# The whole comparison: every server of peers.sh, every ftpbench scenario,
# RUNS runs each (default 3), then a markdown table and an SVG chart of the
# ratios (ftpbench report). Bounded: each scenario has a count and a
# duration; each server is stopped by the pid peers.sh printed.
#
#   bench/peers/matrix.sh [OUT_DIR]      (as root: installs the peers)
#   SERVERS="gnetftp vsftpd" RUNS=1 bench/peers/matrix.sh /tmp/out
#   TLS=1 bench/peers/matrix.sh [OUT_DIR]
#
# TLS=1 runs the FTPS rows instead, into OUT_DIR/tls: every server of
# `peers.sh names tls` (gnetftp only once its ftpd has --tls-cert; tlsref,
# the goroutine-per-connection crypto/tls yardstick) with `ftpbench --tls`
# (AUTH TLS, PBSZ 0, PROT P, TLS 1.3, data connections resuming the
# control session): idle sessions (IDLE_N, default 2,000), logins and
# 4 KiB downloads at C=50, RETR and STOR of 1 GiB; then `openssl speed`
# for AES-128-GCM on one core, and `ftpbench report --tls`, which puts
# the plain figures of OUT_DIR beside the TLS ones.
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

# AES-128-GCM on one core (openssl speed runs one process), 16 KiB
# blocks (a full TLS record), in MB/s.
cipher_speed() {
	openssl speed -evp aes-128-gcm -bytes 16384 -seconds 3 2>/dev/null |
		awk '/^(AES-128-GCM|aes-128-gcm)/ {v=$NF; sub(/k$/, "", v); printf "{\"MBps\": %.0f}\n", v*1000/1e6}'
}

if [ -n "${TLS:-}" ]; then
	servers=${SERVERS:-$("$here/peers.sh" names tls)}
	plain=$out
	out=$out/tls
	mkdir -p "$out"
	for s in $servers; do
		if [ "$s" = gnetftp ] && ! "$dir/ftpd" --help 2>&1 | grep -c -- -tls-cert >/dev/null; then
			echo "matrix: gnetftp skipped: this ftpd has no --tls-cert yet" >&2
			continue
		fi
		for run in $(seq 1 "$runs"); do
			port=$((port + 1))
			pid=$("$here/peers.sh" start "$s" "$dir" "$port" tls)
			a=(--addr "127.0.0.1:$port" "${common[@]}" --tls)
			o="$out/$s"
			mkdir -p "$o"
			echo "matrix: $s TLS run $run (pid $pid, port $port)" >&2
			# Idle: one count, logins bounded by a longer timeout (ProFTPD
			# and vsftpd fork a process per session).
			"$fb" idle "${a[@]}" --timeout 180s --n "${IDLE_N:-2000}" --pid "$pid" --json "$o/idle-$run.json" || true
			"$fb" logins "${a[@]}" --pid "$pid" -c 50 --duration 5s --json "$o/logins-$run.json" || true
			"$fb" small "${a[@]}" --pid "$pid" --file small.bin -c 50 --duration 5s --json "$o/small-$run.json" || true
			"$fb" retr "${a[@]}" --pid "$pid" --file big.bin --json "$o/retr-$run.json" || true
			"$fb" stor "${a[@]}" --pid "$pid" --size 1GiB --json "$o/stor-$run.json" || true
			rm -f "$dir/root"/ftpbench-*.bin
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			sleep 1
		done
	done
	cipher_speed >"$out/cipher.json"
	"$fb" report --tls --dir "$out" --plain "$plain" --markdown "$out/results.md"
	exit 0
fi

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
