#!/bin/bash
# Interleaved A/B rounds of one ftpbench scenario against two ftpd builds
# (README, "Issue 14 A/B attempts"):
#   bench/ab.sh LABEL ROUNDS small|logins|list
# Each round starts $DIR/ftpd-$AV, runs the scenario (bounded by $DUR, or
# one LIST), stops it by its pid, then the same for $DIR/ftpd-$BV. Needs
# $DIR/ftpbench, and $ROOT (small.bin, bigdir/) and $USERS with user bench,
# password secret (see bench/peers/peers.sh setup). TLS=1 makes it FTPS
# (ftpd --tls-cert $CERT --tls-key $KEY, ftpbench --tls). Prints the medians
# of rate and server CPU per operation, B/A ratios and per-round paired ratios.
set -u
DIR=${DIR:-/tmp/ab} ROOT=${ROOT:-/dev/shm/ab/root} USERS=${USERS:-/dev/shm/ab/users}
label=$1 rounds=$2 scen=$3
srvtls= clitls=
if [ -n "${TLS:-}" ]; then
  CERT=${CERT:-/dev/shm/ftpbench-peers/tls/cert.pem} KEY=${KEY:-/dev/shm/ftpbench-peers/tls/key.pem}
  srvtls="--tls-cert $CERT --tls-key $KEY" clitls=--tls
fi
mkdir -p $DIR/res
out=$DIR/res/$label.tsv
: > $out
port=2400
for r in $(seq 1 $rounds); do
  for v in ${AV:-A} ${BV:-B}; do
    port=$((port+1))
    $DIR/ftpd-$v --listen 127.0.0.1:$port --root $ROOT --users $USERS --idle-timeout 0 --max-connections 0 --max-connections-per-ip 0 $srvtls --log-level error >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    j=$DIR/res/$label-$v-$r.json
    case $scen in
      small) $DIR/ftpbench small $clitls --addr 127.0.0.1:$port --user bench --pass secret --file /small.bin -c ${CONC:-50} --duration ${DUR:-4s} --pid $pid --json $j >/dev/null 2>&1 ;;
      logins) $DIR/ftpbench logins $clitls --addr 127.0.0.1:$port --user bench --pass secret -c ${CONC:-50} --duration ${DUR:-4s} --pid $pid --json $j >/dev/null 2>&1 ;;
      list) $DIR/ftpbench list $clitls --addr 127.0.0.1:$port --user bench --pass secret --dir /bigdir --count 1 --pid $pid --json $j >/dev/null 2>&1 ;;
    esac
    kill $pid; wait $pid 2>/dev/null
    echo -e "$r\t$v\t$(jq -r '[.PerSecond, .ServerCPUPerOp/1000, .Ops, .Errors, .Latency.First/1e6] | @tsv' $j)" >> $out
  done
done
python3 - $out <<'PY'
import sys, statistics as st
rows=[l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
d={}
for r in rows: d.setdefault(r[1],[]).append([float(x) for x in r[2:]])
ks=list(d)
for v in ks:
    a=d[v]
    print(v, 'rate med %.1f/s  cpu/op med %.1f us  first med %.2f ms  rates %s cpu %s errors %d' % (
      st.median(x[0] for x in a), st.median(x[1] for x in a), st.median(x[4] for x in a),
      [round(x[0]) for x in a], [round(x[1],1) for x in a], sum(x[3] for x in a)))
A,B=d[ks[0]],d[ks[1]]
ra=st.median(x[0] for x in B)/st.median(x[0] for x in A)
ca=st.median(x[1] for x in B)/st.median(x[1] for x in A)
fa=st.median(x[4] for x in B)/st.median(x[4] for x in A)
# per-round paired ratios
pr=[B[i][1]/A[i][1] for i in range(min(len(A),len(B)))]
print('B/A rate %.3f  cpu/op %.3f  first-latency %.3f  paired cpu ratios %s' % (ra, ca, fa, [round(x,3) for x in pr]))
PY
