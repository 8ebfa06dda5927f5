#!/usr/bin/env bash
# The fleet benchmark (issue 13), as ratios in one run on this machine:
#
#   - RETR and STOR of 1 GiB through a fleet node's S3 backend (ftpd
#     --storage s3 on SeaweedFS's `weed mini`) against the same bytes moved
#     straight through ftp/shell/s3 (`ftpbench s3-retr` / `s3-stor`: the S3
#     client and part pipeline ftpd uses, no FTP in between);
#   - logins/s (C=50) and server CPU per login of a node whose users are in
#     PostgreSQL against a node whose users are in a file, same user, same
#     bcrypt cost, through each node's login cache;
#   - PSS per idle logged-in session (IDLE_N, default 2,000) of the fleet
#     node (PostgreSQL users, S3 files) against the file node (users file,
#     local root).
#
# RUNS rounds (default 3), the three columns interleaved in every round, so
# that the machine's drift hits each the same; each server process is
# fresh per round. Then `ftpbench report --self ftpd-fleet`: each fleet
# figure over the other column measured beside it (the direct S3 client
# for the transfers, the file node for logins and memory).
#
#   bench/fleet/fleet.sh [OUT_DIR]        (default bench/results/fleet; as root)
#   RUNS=1 IDLE_N=500 bench/fleet/fleet.sh /tmp/fleet
#   SCENARIOS="retr stor" bench/fleet/fleet.sh /tmp/fleet   (only those; default: idle logins retr stor)
#   FTPD_ARGS="--cpuprofile /tmp/ftpd.prof" SCENARIOS=retr RUNS=1 bench/fleet/fleet.sh /tmp/fleet
#   IDLE_KINDS=pg bench/fleet/fleet.sh    (also idle sessions of a node with PostgreSQL users on a local root)
#   FTPD_B=/tmp/old/ftpd SCENARIOS=retr bench/fleet/fleet.sh   (also RETR through a fleet node of another ftpd build, column ftpd-fleet-b: an A/B in the same rounds)
#
# It starts its own PostgreSQL (Debian's, initdb + pg_ctl as the postgres
# user, in a temporary directory, 127.0.0.1 only) and SeaweedFS (the binary
# `make weed` caches), both stopped by pid at the end, as are the ftpd
# nodes. Every scenario is bounded by a count and a duration.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/bench/results/fleet}
runs=${RUNS:-3}
idle_n=${IDLE_N:-2000}
scenarios=" ${SCENARIOS:-idle logins retr stor} "
want() { [[ $scenarios == *" $1 "* ]]; }
[ "$(id -u)" = 0 ] || { echo "fleet.sh: run as root (initdb runs as the postgres user through runuser)" >&2; exit 2; }
work=$(mktemp -d /tmp/fleetbench.XXXXXX)
chmod 755 "$work"
pids=()
pg=""
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -z "$pg" ] || runuser -u postgres -- "$pg/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && make --no-print-directory weed >/dev/null && go build -o "$work/ftpd" ./cmd/ftpd && go build -o "$work/ftpbench" ./cmd/ftpbench)
weed=$(go env GOPATH)/bin/weed-$(sed -n 's/^WEED_VERSION = //p' "$repo/Makefile")
fb=$work/ftpbench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL, as internal/pgtest starts it.
pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$work/pg" && chown postgres:postgres "$work/pg"
runuser -u postgres -- "$pg/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >/dev/null
pgport=$(free_port)
runuser -u postgres -- "$pg/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/log" -t 60 \
	-o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
dsn="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

# SeaweedFS, as internal/s3test starts it (ports from a base, gRPC at +10000).
base=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work/weed"
printf '{"identities":[{"name":"ftpd","credentials":[{"accessKey":"benchkey","secretKey":"benchsecret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}' >"$work/weed/s3.json"
s3port=$((base + 333))
"$weed" -logdir="$work/weed" mini -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
	-master.port=$((base + 1)) -volume.port=$((base + 2)) -filer.port=$((base + 3)) -s3.port=$s3port \
	-admin.port=$((base + 4)) -admin.ui=false -admin.port.legacy=0 -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
	-s3.config="$work/weed/s3.json" -bucket=ftp -master.telemetry=false -master.telemetry.url=http://127.0.0.1:9/ \
	>"$work/weed/stdout.log" 2>&1 &
pids+=($!)
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret
storage="s3://ftp/fleet?endpoint=http://127.0.0.1:$s3port&region=us-east-1"
user=ftpbench pass=ftpbench
common=(--user "$user" --pass "$pass" --quiet --timeout 120s)

# The same user, home and bcrypt cost in both stores.
printf '%s\n' "$pass" | "$work/ftpd" user add --users "$work/users" --cost 10 --home /bench "$user" >/dev/null
printf '%s\n' "$pass" | "$work/ftpd" user add --users "$dsn" --cost 10 --home /bench "$user" >/dev/null
mkdir -p "$work/root/bench"

# The 1 GiB object RETR reads, uploaded once through the direct client
# (retried while SeaweedFS becomes writable, about 5 s).
for try in $(seq 1 60); do
	"$fb" s3-stor --storage "$storage" --home bench --size 1MiB --quiet >/dev/null 2>&1 && break
	[ "$try" -lt 60 ] || { echo "fleet.sh: SeaweedFS never became writable:" >&2; tail -20 "$work/weed/stdout.log" >&2; exit 1; }
	sleep 1
done
seedkey=big.bin
"$fb" s3-stor --storage "$storage" --home bench --size 1GiB --file "$seedkey" --quiet --json "$work/seed.json" >/dev/null
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r["Ops"] != 1 or r["Errors"] != 0)' "$work/seed.json" || { echo "fleet.sh: the 1 GiB seed upload failed: $(cat "$work/seed.json")" >&2; exit 1; }

port=$(( $(awk '{print $2}' /proc/sys/net/ipv4/ip_local_port_range) + 100 ))
# node KIND: starts an ftpd node ("file": users file, local root;
# "fleet": PostgreSQL users, S3 files) on the next port; its pid in $p.
node() {
	port=$((port + 1))
	local a=(--listen "127.0.0.1:$port" --idle-timeout 0 --max-connections 0 --max-connections-per-ip 0 --log-level error)
	case $1 in
	file) a+=(--users "$work/users" --root "$work/root") ;;
	pg) a+=(--users "$dsn" --root "$work/root") ;;
	fleet | fleet-b) a+=(--users "$dsn" --storage "$storage") ;;
	esac
	local bin=$work/ftpd
	[ "$1" != fleet-b ] || bin=$FTPD_B
	# shellcheck disable=SC2086 # FTPD_ARGS: words, for profiling
	"$bin" "${a[@]}" ${FTPD_ARGS:-} >"$work/ftpd-$1-$port.log" 2>&1 &
	p=$!
	pids+=("$p")
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "fleet.sh: ftpd ($1) did not start:" >&2
	cat "$work/ftpd-$1-$port.log" >&2
	exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# Where a bulk transfer's CPU goes: the whole machine's busy time (every
# process, the kernel's network stack included) and SeaweedFS's, in
# clock ticks, around one run; written as KEY=SECONDS lines beside its JSON.
machine_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat; }
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
weedpid=${pids[0]}
hz=$(getconf CLK_TCK)
cpu_run() { # FILE COMMAND...: runs COMMAND, writes machine= and weed= CPU seconds to FILE
	local f=$1 m0 w0
	shift
	m0=$(machine_ticks) w0=$(proc_ticks "$weedpid")
	"$@" >/dev/null || true
	echo "machine=$(( ($(machine_ticks) - m0) * 100 / hz ))e-2 weed=$(( ($(proc_ticks "$weedpid") - w0) * 100 / hz ))e-2" >"$f"
}

rm -rf "$out"
mkdir -p "$out/ftpd-fleet" "$out/ftpd-file" "$out/s3-direct" "$out/ftpd-pg"
for run in $(seq 1 "$runs"); do
	echo "fleet: round $run of $runs" >&2
	# Idle memory, each on a fresh process.
	want idle && for kind in file ${IDLE_KINDS:-} fleet; do
		node $kind
		"$fb" idle --addr "127.0.0.1:$port" "${common[@]}" --n "$idle_n" --pid "$p" --json "$out/ftpd-$kind/idle-$run.json" >/dev/null || true
		stop "$p"
	done
	# Logins: the file node, then the fleet node.
	want logins && for kind in file fleet; do
		node $kind
		"$fb" logins --addr "127.0.0.1:$port" "${common[@]}" -c 50 --duration 5s --pid "$p" --json "$out/ftpd-$kind/logins-$run.json" >/dev/null || true
		stop "$p"
	done
	# 1 GiB down and up: through the fleet node, then straight.
	if want retr || want stor; then
		node fleet
		if want retr; then
			cpu_run "$out/ftpd-fleet/retr-$run.cpu" "$fb" retr --addr "127.0.0.1:$port" "${common[@]}" --file "$seedkey" --pid "$p" --json "$out/ftpd-fleet/retr-$run.json"
			cpu_run "$out/s3-direct/retr-$run.cpu" "$fb" s3-retr --storage "$storage" --home bench --file "$seedkey" --quiet --json "$out/s3-direct/retr-$run.json"
		fi
		if want stor; then
			cpu_run "$out/ftpd-fleet/stor-$run.cpu" "$fb" stor --addr "127.0.0.1:$port" "${common[@]}" --size 1GiB --pid "$p" --json "$out/ftpd-fleet/stor-$run.json"
			cpu_run "$out/s3-direct/stor-$run.cpu" "$fb" s3-stor --storage "$storage" --home bench --size 1GiB --quiet --json "$out/s3-direct/stor-$run.json"
		fi
		stop "$p"
		if want retr && [ -n "${FTPD_B:-}" ]; then
			node fleet-b
			mkdir -p "$out/ftpd-fleet-b"
			cpu_run "$out/ftpd-fleet-b/retr-$run.cpu" "$fb" retr --addr "127.0.0.1:$port" "${common[@]}" --file "$seedkey" --pid "$p" --json "$out/ftpd-fleet-b/retr-$run.json"
			stop "$p"
		fi
	fi
done
uname -srm >"$out/machine.txt"
nproc >>"$out/machine.txt"
uptime >>"$out/machine.txt"
"$fb" report --dir "$out" --self ftpd-fleet --markdown "$out/results.md"
# The CPU of each bulk run (seconds per 1 GiB transfer): the machine's and SeaweedFS's.
for f in "$out"/*/*.cpu; do
	[ -e "$f" ] || continue
	echo "$(basename "$(dirname "$f")") $(basename "$f" .cpu): $(cat "$f")"
done | sort | tee "$out/cpu.txt"
