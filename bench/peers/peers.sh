#!/usr/bin/env bash
# Peer FTP servers for the side-by-side benchmark, each from Debian, all
# on loopback with the same layout and user. Only processes this script
# starts are stopped, by the pids it printed.
#
#   peers.sh setup DIR            install peers, make DIR/root (1 GiB file, 4 KiB file,
#                                 10,000-entry dir) and the user ftpbench/ftpbench
#   peers.sh start NAME DIR PORT [tls]
#                                 start NAME on 127.0.0.1:PORT; prints its pid. With
#                                 tls: explicit FTPS (AUTH TLS, PBSZ, PROT P) with
#                                 DIR/tls/cert.pem (ECDSA P-256, from ftpd cert),
#                                 data connections resuming the control session
#                                 where the server checks it (vsftpd, ProFTPD)
#   peers.sh names [tls]          the servers this script knows (with tls: those with FTPS)
#
# NAME: gnetftp pyftpdlib twisted vsftpd pure-ftpd proftpd, and with tls also
# tlsref (ftpbench tls-reference-server: a goroutine per connection on
# crypto/tls, the yardstick of the idle TLS session's memory). Twisted has
# no FTPS. Without tls also floor and floor-parallel (cmd/ftpfloor, not FTP
# servers: bench/floor, the system-call floor of the logins, small, retr and
# list scenarios; floor-parallel splits a LIST's stats over 2 threads per loop).
# vsftpd, pure-ftpd and proftpd conflict as Debian packages, so their .debs
# are unpacked with dpkg-deb -x under DIR/pkgs instead of installed and run
# from there (vsftpd and proftpd with a config generated in DIR/run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3   # Debian's, which has the python3-* packages
USER_NAME=ftpbench
USER_PASS=ftpbench
BIG_SIZE=${BIG_SIZE:-1073741824}

names() {
	if [ "${1:-}" = tls ]; then
		echo gnetftp tlsref pyftpdlib vsftpd pure-ftpd proftpd
	else
		echo gnetftp pyftpdlib twisted vsftpd pure-ftpd proftpd floor floor-parallel
	fi
}

setup() {
	local dir=$1
	mkdir -p "$dir/root/bigdir" "$dir/pkgs" "$dir/run"
	if [ "$(id -u)" = 0 ]; then
		# python3-openssl: pyftpdlib's TLS_FTPHandler is built on pyOpenSSL.
		if ! $PY -c 'import pyftpdlib, twisted, OpenSSL' 2>/dev/null; then
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pyftpdlib python3-twisted python3-openssl >/dev/null
		fi
		# The unpacked binaries need shared libraries that conflict with
		# nothing: libwrap for vsftpd; hiredis, libmemcached and pcre2-posix
		# for ProFTPD. (grep reads all of ldconfig's output: no SIGPIPE.)
		local libs=() pair
		for pair in libwrap.so.0=libwrap0 libhiredis.so.0.14=libhiredis0.14 \
			libmemcached.so.11=libmemcached11 libmemcachedutil.so.2=libmemcachedutil2 \
			libpcre2-posix.so.3=libpcre2-posix3; do
			ldconfig -p | grep -F "${pair%%=*}" >/dev/null || libs+=("${pair#*=}")
		done
		if [ ${#libs[@]} -gt 0 ]; then
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${libs[@]}" >/dev/null
		fi
		# DIR/pkgs/NAME from Debian package PKG; proftpd-core has every module
		# the login needs compiled in (mod_auth_unix, mod_delay, mod_ls, ...);
		# mod_tls is not among them: it is a DSO of proftpd-mod-crypto,
		# unpacked into the same tree (usr/lib/proftpd/mod_tls.so).
		for pair in vsftpd=vsftpd pure-ftpd=pure-ftpd proftpd=proftpd-core \
			proftpd/usr/lib/proftpd/mod_tls.so=proftpd-mod-crypto; do
			local name=${pair%%=*} pkg=${pair#*=}
			if [ ! -e "$dir/pkgs/$name" ]; then
				(cd "$dir/pkgs" &&
					{ apt-get download "$pkg" >/dev/null 2>&1 ||
						{ apt-get update -qq && apt-get download "$pkg" >/dev/null 2>&1; }; } &&
					dpkg-deb -x "$pkg"_*.deb "${name%%/*}")
			fi
		done
		if ! id "$USER_NAME" >/dev/null 2>&1; then
			useradd --no-create-home --home-dir "$dir/root" --shell /bin/bash "$USER_NAME"
		fi
		# pure-ftpd (and vsftpd without local_root) serve the user's home:
		# point it at this DIR's root even if an earlier setup used another.
		usermod --home "$dir/root" "$USER_NAME"
		# SHA-512 crypt, not Debian's default yescrypt: yescrypt makes every
		# vsftpd/ProFTPD login cost 100+ ms and would measure the hash.
		echo "$USER_NAME:$(openssl passwd -6 "$USER_PASS")" | chpasswd -e
		chown -R "$USER_NAME" "$dir/root"
	fi
	[ -s "$dir/root/big.bin" ] || head -c "$BIG_SIZE" /dev/zero > "$dir/root/big.bin"
	[ -s "$dir/root/small.bin" ] || head -c 4096 /dev/urandom > "$dir/root/small.bin"
	if [ "$(ls "$dir/root/bigdir" | wc -l)" -lt 10000 ]; then
		(cd "$dir/root/bigdir" && seq -f 'entry-%05g' 1 10000 | xargs touch)
	fi
	(cd "$repo" && go build -o "$dir/ftpd" ./cmd/ftpd) # always: never measure a stale build
	(cd "$repo" && go build -o "$dir/ftpbench" ./cmd/ftpbench)
	(cd "$repo" && go build -o "$dir/ftpfloor" ./cmd/ftpfloor)
	# One certificate for every server's FTPS: ECDSA P-256, for 127.0.0.1.
	mkdir -p "$dir/tls"
	[ -s "$dir/tls/cert.pem" ] || "$dir/ftpd" cert --cert "$dir/tls/cert.pem" --key "$dir/tls/key.pem" --host 127.0.0.1 >/dev/null
	# Readable by the servers' unprivileged processes (ProFTPD reads it as root, vsftpd too).
	chmod 0644 "$dir/tls/cert.pem"
	printf '%s\n' "$USER_PASS" | "$dir/ftpd" passwd --users "$dir/users" --cost 4 --home / "$USER_NAME" >/dev/null
	[ "$(id -u)" != 0 ] || chown -R "$USER_NAME" "$dir/root"
}

start() {
	local name=$1 dir=$2 port=$3 tls=${4:-} log="$2/run/$1.log"
	local cert="$dir/tls/cert.pem" key="$dir/tls/key.pem"
	case "$tls" in
	"" | tls) ;;
	*) echo "start: the 4th argument is tls or nothing, not $tls" >&2; exit 2 ;;
	esac
	case "$name" in
	gnetftp)
		# No connection limits: idle holds 19,000 sessions from 250 source
		# IPs, logins and small run 50 clients from one.
		local tlsflags=()
		[ -z "$tls" ] || tlsflags=(--tls-cert "$cert" --tls-key "$key" --tls-session-reuse=required)
		"$dir/ftpd" --listen "127.0.0.1:$port" --root "$dir/root" --users "$dir/users" \
			--idle-timeout 0 --max-connections 0 --max-connections-per-ip 0 --log-level error "${tlsflags[@]}" >"$log" 2>&1 &
		;;
	floor | floor-parallel)
		[ -z "$tls" ] || { echo "$name has no FTPS" >&2; exit 2; }
		local threads=1
		[ "$name" = floor ] || threads=2
		"$dir/ftpfloor" --addr "127.0.0.1:$port" --root "$dir/root" --file small.bin,big.bin \
			--user "$USER_NAME" --pass "$USER_PASS" --list-threads "$threads" >"$log" 2>&1 &
		;;
	tlsref)
		[ -n "$tls" ] || { echo "tlsref serves FTPS only: start it with tls" >&2; exit 2; }
		"$dir/ftpbench" tls-reference-server --addr "127.0.0.1:$port" --tls-cert "$cert" --tls-key "$key" --root "$dir/root" \
			--user "$USER_NAME" --pass "$USER_PASS" >"$log" 2>&1 &
		;;
	pyftpdlib)
		$PY - "$dir/root" "$port" "$USER_NAME" "$USER_PASS" "${tls:+$cert}" "${tls:+$key}" >"$log" 2>&1 <<'PY' &
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cert, key = sys.argv[5], sys.argv[6]
logging.basicConfig(level=logging.ERROR)
a = DummyAuthorizer()
a.add_user(user, pw, root, perm="elradfmwMT")
a.add_anonymous(root)
h = FTPHandler
if cert:
    # pyOpenSSL, TLS_server_method (SSLv23_METHOD): TLS 1.3 with OpenSSL's
    # tickets; pyftpdlib checks no session reuse (issue #288).
    from pyftpdlib.handlers import TLS_FTPHandler
    h = TLS_FTPHandler
    h.certfile, h.keyfile = cert, key
    h.tls_control_required = False
    h.tls_data_required = False
h.authorizer = a
h.timeout = None
s = FTPServer(("127.0.0.1", port), h)
s.max_cons = 0
s.max_cons_per_ip = 0
s.serve_forever()
PY
		;;
	twisted)
		[ -z "$tls" ] || { echo "twisted has no FTPS" >&2; exit 2; }
		mkdir -p "$dir/run/homes"
		ln -sfn "$dir/root" "$dir/run/homes/$USER_NAME"
		$PY - "$dir/root" "$dir/run/homes" "$port" "$USER_NAME" "$USER_PASS" >"$log" 2>&1 <<'PY' &
import sys
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse, AllowAnonymousAccess
from twisted.cred.portal import Portal
from twisted.internet import reactor
from twisted.protocols.ftp import FTPFactory, FTPRealm
root, homes, port, user, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
# Keyword users are stored as bytes, but Twisted's FTP passes the user name
# as str: add the user with str keys so the FTP login can find it.
checker = InMemoryUsernamePasswordDatabaseDontUse()
checker.addUser(user, pw)
portal = Portal(FTPRealm(root, userHome=homes), [AllowAnonymousAccess(), checker])
f = FTPFactory(portal)
f.timeOut = None
reactor.listenTCP(port, f, interface="127.0.0.1", backlog=4096)
reactor.run()
PY
		;;
	vsftpd)
		mkdir -p /var/run/vsftpd/empty
		[ -f /etc/pam.d/vsftpd ] || cp "$dir/pkgs/vsftpd/etc/pam.d/vsftpd" /etc/pam.d/vsftpd
		cat >"$dir/run/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_root=$dir/root
max_clients=0
max_per_ip=0
seccomp_sandbox=NO
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
idle_session_timeout=0
data_connection_timeout=0
xferlog_enable=NO
CONF
		if [ -n "$tls" ]; then
			# require_ssl_reuse=YES is vsftpd's default, said here so that
			# it shows; ssl_ciphers: the default is DES-CBC3-SHA (TLS 1.2),
			# which an ECDSA key cannot serve.
			cat >>"$dir/run/vsftpd.conf" <<CONF
ssl_enable=YES
rsa_cert_file=$cert
rsa_private_key_file=$key
ssl_ciphers=HIGH
require_ssl_reuse=YES
force_local_logins_ssl=NO
force_local_data_ssl=NO
CONF
		fi
		"$dir/pkgs/vsftpd/usr/sbin/vsftpd" "$dir/run/vsftpd.conf" >"$log" 2>&1 &
		;;
	pure-ftpd)
		# --tls=1: plain and TLS both accepted; -2: the certificate and key files.
		local tlsflags=()
		[ -z "$tls" ] || tlsflags=(--tls=1 -2 "$cert,$key")
		"$dir/pkgs/pure-ftpd/usr/sbin/pure-ftpd" -S "127.0.0.1,$port" -c 50000 -C 50000 -l unix -E -I 0 -H -A "${tlsflags[@]}" >"$log" 2>&1 &
		;;
	proftpd)
		# Standalone, in the foreground (-n, log on stderr): one forked
		# process per session, like vsftpd. /etc/passwd+shadow only (no PAM),
		# no DNS or ident lookups, no login delay, no limits or timeouts
		# (listen backlog 255: TCPBackLog's maximum);
		# no .ftpaccess lookups (two stats per LIST entry otherwise);
		# chrooted to DIR/root as pure-ftpd is (-A). Passive ports: the
		# kernel's choice, as for vsftpd and pure-ftpd. Not configurable:
		# each session's exit interrupts the master's select(), and the master
		# then sleeps 0.2 s before accepting again
		# (PR_TUNABLE_EINTR_RETRY_INTERVAL), which bounds logins/s.
		cat >"$dir/run/proftpd.conf" <<CONF
ServerType standalone
ServerName "proftpd"
UseIPv6 off
DefaultAddress 127.0.0.1
SocketBindTight on
Port $port
TCPBackLog 255
User nobody
Group nogroup
PidFile $dir/run/proftpd.pid
ScoreboardFile $dir/run/proftpd.scoreboard
TransferLog none
WtmpLog off
UseLastlog off
UseReverseDNS off
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
ControlsEngine off
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
AuthOrder mod_auth_unix.c
AuthPAM off
UseFtpUsers off
RequireValidShell off
DefaultRoot $dir/root
MaxInstances none
MaxClients none
MaxClientsPerHost none
MaxClientsPerUser none
MaxHostsPerUser none
MaxConnectionsPerHost none
TimeoutLogin 0
TimeoutIdle 0
TimeoutNoTransfer 0
TimeoutStalled 0
Umask 022
AllowOverwrite on
AllowOverride off
CONF
		if [ -n "$tls" ]; then
			# mod_tls from proftpd-mod-crypto; session reuse on data
			# connections required (mod_tls's default), TLS 1.3 allowed.
			cat >>"$dir/run/proftpd.conf" <<CONF
ModulePath $dir/pkgs/proftpd/usr/lib/proftpd
LoadModule mod_tls.c
<IfModule mod_tls.c>
  TLSEngine on
  TLSProtocol TLSv1.2 TLSv1.3
  TLSECCertificateFile $cert
  TLSECCertificateKeyFile $key
  TLSRequired off
  TLSVerifyClient off
  TLSRenegotiate none
  TLSSessionTickets on
</IfModule>
CONF
		fi
		"$dir/pkgs/proftpd/usr/sbin/proftpd" -n -c "$dir/run/proftpd.conf" >"$log" 2>&1 &
		;;
	*)
		echo "unknown server $name (known: $(names))" >&2
		exit 2
		;;
	esac
	local pid=$!
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$pid"
			return 0
		fi
		sleep 0.1
	done
	echo "$name did not start; its log:" >&2
	cat "$log" >&2
	kill "$pid" 2>/dev/null || true
	return 1
}

case "${1:-}" in
setup) setup "$2" ;;
start) start "$2" "$3" "$4" "${5:-}" ;;
names) names "${2:-}" ;;
*) sed -n '2,22p' "$0"; exit 2 ;;
esac
