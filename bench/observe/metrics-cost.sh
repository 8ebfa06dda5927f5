#!/bin/sh
# metrics-cost.sh: what --metrics-listen costs on the hot paths. Alternating
# rounds, in one run, of ftpd without and with --metrics-listen (scraped
# every second by curl meanwhile), each measured with ftpbench logins
# (alice, password in the bcrypt cache) and ftpbench small (4 KiB
# EPSV+RETR, anonymous), 50 clients; prints each round and the medians with
# their ratio (on/off). Stops only the processes it started, by pid.
#
#   bench/observe/metrics-cost.sh            # ROUNDS=4 DUR=5s C=50
set -eu
ROUNDS=${ROUNDS:-4}
DUR=${DUR:-5s}
C=${C:-50}
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/ftpd" ./cmd/ftpd
go build -o "$dir/ftpbench" ./cmd/ftpbench
mkdir -p "$dir/root/pub"
head -c 4096 /dev/urandom > "$dir/root/pub/small.bin"
echo secret | "$dir/ftpd" passwd --users "$dir/users" --cost 4 --home / alice > /dev/null
port=$((20000 + $$ % 10000))
mport=$((port + 1))

round() { # mode round
	mode=$1
	rn=$2
	set -- --root "$dir/root" --users "$dir/users" --anonymous --ban-after 0 --listen "127.0.0.1:$port"
	if [ "$mode" = on ]; then set -- "$@" --metrics-listen "127.0.0.1:$mport"; fi
	rm -f "$dir/ftpd.out" # not the last round's "serving" line
	"$dir/ftpd" "$@" > "$dir/ftpd.out" 2> /dev/null &
	pid=$!
	n=0
	until grep -q serving "$dir/ftpd.out" 2> /dev/null; do
		n=$((n + 1)); [ $n -lt 100 ] || { echo "ftpd did not start" >&2; kill "$pid"; exit 1; }
		sleep 0.1
	done
	spid=
	if [ "$mode" = on ]; then
		(while kill -0 "$pid" 2> /dev/null; do curl -s -o /dev/null "http://127.0.0.1:$mport/metrics"; sleep 1; done) &
		spid=$!
	fi
	"$dir/ftpbench" logins --addr "127.0.0.1:$port" -c "$C" --duration "$DUR" --user alice --pass secret \
		--pid "$pid" --quiet --json "$dir/logins-$mode-$rn.json" > /dev/null
	"$dir/ftpbench" small --addr "127.0.0.1:$port" --file small.bin -c "$C" --duration "$DUR" \
		--pid "$pid" --quiet --json "$dir/small-$mode-$rn.json" > /dev/null
	kill "$pid"
	wait "$pid" || true
	if [ -n "$spid" ]; then kill "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true; fi
}

r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 1 ]; then round off $r; round on $r; else round on $r; round off $r; fi
	r=$((r + 1))
done

python3 - "$dir" "$ROUNDS" <<'PY'
import json, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
for scen in ("logins", "small"):
    rate = {m: [] for m in ("off", "on")}
    cpu = {m: [] for m in ("off", "on")}
    skipped = [0]  # rounds left out whole (one side had no operation)
    for r in range(1, rounds + 1):
        for m in ("off", "on"):
            j = json.load(open(f"{d}/{scen}-{m}-{r}.json"))
            if not j["Ops"]:
                print(f"{scen} round {r} {m}: no operation ({j.get('FirstErr')}), left out")
                continue
            rate[m].append(j["PerSecond"])
            cpu[m].append(j.get("ServerCPUPerOp", 0) / 1000)
        if len(rate["off"]) == len(rate["on"]) == r - skipped[0]:
            print(f"{scen} round {r}: off {rate['off'][-1]:.0f}/s {cpu['off'][-1]:.1f} us/op, on {rate['on'][-1]:.0f}/s {cpu['on'][-1]:.1f} us/op")
        else:
            skipped[0] += 1
            n = r - skipped[0]
            rate["off"], rate["on"], cpu["off"], cpu["on"] = rate["off"][:n], rate["on"][:n], cpu["off"][:n], cpu["on"][:n]
    mo, mn = statistics.median(rate["off"]), statistics.median(rate["on"])
    co, cn = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    pr = statistics.median(n / o for n, o in zip(rate["on"], rate["off"]))
    pc = statistics.median(n / o for n, o in zip(cpu["on"], cpu["off"]) if o)
    print(f"{scen}: median off {mo:.0f}/s ({co:.1f} us/op), on {mn:.0f}/s ({cn:.1f} us/op); "
          f"median of the rounds' on/off: rate {pr:.3f}, CPU per op {pc:.3f}")
PY
