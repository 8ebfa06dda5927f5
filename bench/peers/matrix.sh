#!/usr/bin/env bash
# The whole comparison: every server of peers.sh, every ftpbench scenario,
# RUNS rounds (default 3) of every server in turn, then a markdown table and
# an SVG chart of the ratios (ftpbench report). The floor (bench/floor, the
# system-call floor, not an FTP server) runs beside the servers in every
# round, and `ftpbench loopback` (the bulk floor) before and after each
# server's run, so that the report can divide by what was measured next to
# each figure. Bounded: each scenario has a count and a
# duration; each server is stopped by the pid peers.sh printed.
#
#   bench/peers/matrix.sh [OUT_DIR]      (as root: installs the peers)
#   SERVERS="gnetftp vsftpd" RUNS=1 bench/peers/matrix.sh /tmp/out
#   TLS=1 bench/peers/matrix.sh [OUT_DIR]
#   SCENARIOS="logins small list" bench/peers/matrix.sh /tmp/out   (only those)
#
# TLS=1 runs the FTPS rows instead, into OUT_DIR/tls: every server of
# `peers.sh names tls` (gnetftp only once its ftpd has --tls-cert; tlsref,
# the goroutine-per-connection crypto/tls yardstick) with `ftpbench --tls`
# (AUTH TLS, PBSZ 0, PROT P, TLS 1.3, data connections resuming the
# control session): idle sessions (IDLE_N, default 2,000), logins and
# 4 KiB downloads at C=50, RETR and STOR of 1 GiB, each also plain
# against the same server process (into OUT_DIR/tls-plain); then
# `openssl speed` for AES-128-GCM on one core, and `ftpbench report
# --tls`, which puts the plain figures beside the TLS ones. IDLE_ONLY=1
# re-runs only the idle sessions; SCENARIOS (of idle logins small retr
# stor) keeps only those.
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
	out_root=$out
	out=$out_root/tls
	plain_out=$out_root/tls-plain
	mkdir -p "$out" "$plain_out"
	for s in $servers; do
		if [ "$s" = gnetftp ] && ! "$dir/ftpd" --help 2>&1 | grep -c -- -tls-cert >/dev/null; then
			echo "matrix: gnetftp skipped: this ftpd has no --tls-cert yet" >&2
			continue
		fi
		for run in $(seq 1 "$runs"); do
			# Idle: each mode on a fresh server process (a Go server's
			# heap keeps what an earlier scenario grew, which would hide
			# part of the next one's memory); one count, logins bounded
			# by a longer timeout (ProFTPD and vsftpd fork a process per
			# session).
			for mode in plain tls; do
				case " ${SCENARIOS:-idle} " in *" idle "*) ;; *) continue ;; esac
				port=$((port + 1))
				pid=$("$here/peers.sh" start "$s" "$dir" "$port" tls)
				echo "matrix: $s idle $mode run $run (pid $pid, port $port)" >&2
				a=(--addr "127.0.0.1:$port" "${common[@]}")
				o="$out/$s"
				if [ $mode = plain ]; then
					o="$plain_out/$s"
				else
					a+=(--tls)
				fi
				mkdir -p "$o"
				"$fb" idle "${a[@]}" --timeout 180s --n "${IDLE_N:-2000}" --pid "$pid" --json "$o/idle-$run.json" || true
				kill "$pid" 2>/dev/null || true
				sleep 1
			done
			[ -z "${IDLE_ONLY:-}" ] || continue
			port=$((port + 1))
			pid=$("$here/peers.sh" start "$s" "$dir" "$port" tls)
			echo "matrix: $s TLS run $run (pid $pid, port $port)" >&2
			# Each scenario plain, then as FTPS, against the same server
			# process (every server here also takes plain sessions), so
			# that "plain -> TLS" is one moment of the machine.
			for sc in logins small retr stor; do
				case " ${SCENARIOS:-$sc} " in *" $sc "*) ;; *) continue ;; esac
				for mode in plain tls; do
					a=(--addr "127.0.0.1:$port" "${common[@]}" --pid "$pid")
					o="$out/$s"
					if [ $mode = plain ]; then
						o="$plain_out/$s"
					else
						a+=(--tls)
					fi
					mkdir -p "$o" # the idle scenario, which makes it too, may be left out
					case $sc in
					logins) "$fb" logins "${a[@]}" -c 50 --duration 5s --json "$o/logins-$run.json" || true ;;
					small) "$fb" small "${a[@]}" --file small.bin -c 50 --duration 5s --json "$o/small-$run.json" || true ;;
					retr) "$fb" retr "${a[@]}" --file big.bin --json "$o/retr-$run.json" || true ;;
					stor) "$fb" stor "${a[@]}" --size 1GiB --json "$o/stor-$run.json" || true
						rm -f "$dir/root"/ftpbench-*.bin ;;
					esac
				done
			done
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			sleep 1
		done
	done
	cipher_speed >"$out/cipher.json"
	"$fb" report --tls --dir "$out" --plain "$plain_out" --markdown "$out/results.md"
	exit 0
fi

# What each server runs: the floor answers only the dialogues of logins,
# small, retr and list, and floor-parallel differs from floor only in LIST.
# SCENARIOS (e.g. "logins small list") keeps only those.
scenarios() {
	local all
	case $1 in
	floor) all="logins small retr list" ;;
	floor-parallel) all="list" ;;
	*) all="idle logins small retr stor list latency" ;;
	esac
	for sc in $all; do
		case " ${SCENARIOS:-$all} " in *" $sc "*) echo "$sc" ;; esac
	done
}
# The loopback sendfile copy (the bulk floor), measured before and after
# every server's run, so that the machine's drift shows beside each figure.
loopback() { "$fb" loopback --file "$dir/root/big.bin" --json "$1" >/dev/null || true; }

# Rounds outside, servers inside (ABC ABC ...): a slow moment of the shared
# machine then lands on every server, not on all the runs of one.
for run in $(seq 1 "$runs"); do
	for s in $servers; do
		o="$out/$s"
		mkdir -p "$o"
		loopback "$o/loopback-$run.json"
		port=$((port + 1))
		pid=$("$here/peers.sh" start "$s" "$dir" "$port")
		a=(--addr "127.0.0.1:$port" "${common[@]}")
		echo "matrix: $s run $run (pid $pid, port $port)" >&2
		for sc in $(scenarios "$s"); do
			case $sc in
			idle) "$fb" idle "${a[@]}" --n 1000,4000 --pid "$pid" --json "$o/idle-$run.json" || true ;;
			logins) "$fb" logins "${a[@]}" --pid "$pid" -c 50 --duration 5s --json "$o/logins-$run.json" || true ;;
			small) "$fb" small "${a[@]}" --pid "$pid" --file small.bin -c 50 --duration 5s --json "$o/small-$run.json" || true ;;
			retr) "$fb" retr "${a[@]}" --file big.bin --json "$o/retr-$run.json" || true ;;
			stor) "$fb" stor "${a[@]}" --size 1GiB --json "$o/stor-$run.json" || true
				rm -f "$dir/root"/ftpbench-*.bin ;;
			list) "$fb" list "${a[@]}" --pid "$pid" --dir bigdir --count 10 --json "$o/list-$run.json" || true ;;
			latency) "$fb" latency "${a[@]}" --file big.bin -m 50 -k 8 --duration 5s --json "$o/latency-$run.json" || true ;;
			esac
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		sleep 1
		loopback "$o/loopback-after-$run.json"
	done
done
"$fb" loopback --file "$dir/root/big.bin" --json "$out/loopback.json"
"$fb" report --dir "$out" --markdown "$out/results.md" --svg "$out/ratios.svg"
cat "$out/results.md"
