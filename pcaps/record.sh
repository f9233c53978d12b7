#!/usr/bin/env bash
# pcaps/record.sh - record the reference packet captures in pcaps/ from real
# programs (curl, python http.server, openssl, dnsmasq, dig, socat, nmap, ping)
# talking across veth links between two throw-away network namespaces.
#
# Usage (as root):  bash pcaps/record.sh [OUTDIR]      (OUTDIR defaults to pcaps/)
#
# Network safety: everything happens inside namespaces named offp-rec-*; the
# only addresses used are 198.18.0.0/15 (IPv4) and 2001:2::/48 (IPv6), both
# benchmarking ranges. Nothing touches the host's own interfaces.
# The namespaces, servers, captures and the temp dir are removed on exit; a
# re-run first removes leftovers of an earlier (crashed) run.
set -euo pipefail

PREFIX=offp-rec
NC=$PREFIX-c            # client namespace
NS=$PREFIX-s            # server namespace
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mkdir -p "${1:-$HERE}" && cd "${1:-$HERE}" && pwd)

# Addresses (benchmarking ranges only).
C4=198.18.0.1    S4=198.18.0.2          # base link, IPv4
C6=2001:2::1     S6=2001:2::2           # base link, IPv6
VC=198.18.100.1  VS=198.18.100.2        # 802.1Q VLAN 100
QC=198.18.101.1  QS=198.18.101.2        # QinQ: S-VLAN 200 (802.1ad) / C-VLAN 100
UC=198.19.0.1    US=198.19.0.2          # tunnel underlay
XC=198.18.42.1   XS=198.18.42.2         # VXLAN VNI 42 overlay
GC=198.18.43.1   GS=198.18.43.2         # GRE overlay
E1C=198.18.44.1  E1S=198.18.44.2        # ERSPAN type II overlay
E2C=198.18.45.1  E2S=198.18.45.2        # ERSPAN type III overlay

log()  { printf '[record] %s\n' "$*" >&2; }
note() { printf '[record] NOTE: %s\n' "$*" >&2; }
die()  { printf '[record] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- preflight
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, raw sockets, captures)"

need() { # command apt-package
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install the Debian package '$2' (apt-get install -y $2)"
}
need ip iproute2
need tc iproute2
need ethtool ethtool
need tcpdump tcpdump
need dumpcap wireshark-common
need capinfos wireshark-common
need tshark tshark
need curl curl
need openssl openssl
need python3 python3
need socat socat
need dig bind9-dnsutils
need dnsmasq dnsmasq-base
need nmap nmap
need ping iputils-ping
need sysctl procps
need ss iproute2
need mount mount
ip netns list >/dev/null 2>&1 || die "this kernel/container does not allow 'ip netns' (needs CAP_SYS_ADMIN and CONFIG_NET_NS)"

WORK=$(mktemp -d /tmp/$PREFIX.XXXXXX)
mkdir -p "$WORK/cap" "$WORK/log" "$WORK/www" "$WORK/tls"
PIDS=()
BPFFS=""

kill_ns_procs() { # kill every process living in one of our namespaces
    local ns pid
    for ns in "$@"; do
        ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    done
    sleep 0.3
    for ns in "$@"; do
        ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
}

remove_leftovers() {
    local ns l m
    local olds
    olds=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-" || true)
    if [ -n "$olds" ]; then
        # shellcheck disable=SC2086
        kill_ns_procs $olds
        for ns in $olds; do ip netns del "$ns" 2>/dev/null || true; done
    fi
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$PREFIX-" || true); do
        ip link del "$l" 2>/dev/null || true
    done
    for m in $(awk -v p="$PREFIX-bpf" '$1 == p {print $2}' /proc/mounts); do umount "$m" 2>/dev/null || true; done
}

cleanup() {
    local rc=$? pid
    set +e
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    kill_ns_procs "$NC" "$NS"
    ip netns del "$NC" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    [ -n "$BPFFS" ] && umount "$BPFFS" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        log "failed (exit $rc); logs of the run:"
        tail -n 5 "$WORK"/log/* >&2 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
remove_leftovers
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$@"; }
# run NS LOGNAME CMD... in the background inside namespace NS (ip netns exec
# execs the command, so $! is the program's own PID)
bg() {
    local ns=$1 name=$2; shift 2
    ip netns exec "$ns" "$@" >"$WORK/log/$name.log" 2>&1 </dev/null &
    PIDS+=($!)
    LAST_PID=$!
}
wait_for() { # file pattern [tries of 0.1 s]
    local i
    for ((i = 0; i < ${3:-50}; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    die "timed out waiting for '$2' in $1: $(tail -n 3 "$1" 2>/dev/null)"
}
wait_port() { # ns proto(tcp|udp) port
    local i flag=-t
    [ "$2" = udp ] && flag=-u
    for ((i = 0; i < 50; i++)); do
        nsx "$1" ss -Hln "$flag" "sport = :$3" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    die "nothing listening on $2/$3 in $1"
}

# ---------------------------------------------------------------- captures
declare -A CAP_PID CAP_FILE
# cap NAME NS TCPDUMP-ARGS...   (writes $OUT/NAME when stopped)
cap() {
    local name=$1 ns=$2; shift 2
    CAP_FILE[$name]=$WORK/cap/$name
    bg "$ns" "cap-$name" tcpdump -Z root -U --immediate-mode -n -w "$WORK/cap/$name" "$@"
    CAP_PID[$name]=$LAST_PID
    wait_for "$WORK/log/cap-$name.log" 'listening on'
}
# capng NAME NS IF...   two or more interfaces into one pcapng with dumpcap
capng() {
    local name=$1 ns=$2 i args=(); shift 2
    for i in "$@"; do args+=(-i "$i"); done
    CAP_FILE[$name]=$WORK/cap/$name
    bg "$ns" "cap-$name" dumpcap -q -n "${args[@]}" -w "$WORK/cap/$name"
    CAP_PID[$name]=$LAST_PID
    wait_for "$WORK/log/cap-$name.log" 'Capturing on'
}
# stop NAME...   SIGINT the capture(s) after a short grace time, move to $OUT
stop() {
    local name
    sleep 1
    for name in "$@"; do kill -INT "${CAP_PID[$name]}"; done
    for name in "$@"; do
        wait "${CAP_PID[$name]}" || die "capture $name exited with an error: $(tail -n 3 "$WORK/log/cap-$name.log")"
        [ -s "${CAP_FILE[$name]}" ] || die "capture $name is empty"
        mv -f "${CAP_FILE[$name]}" "$OUT/$name"
        chmod 644 "$OUT/$name"
        DONE+=("$name")
        log "wrote $name"
    done
}
# discard NAME...   stop capture(s) and throw the file(s) away
discard() {
    local name
    for name in "$@"; do kill -INT "${CAP_PID[$name]}" 2>/dev/null || true; done
    for name in "$@"; do wait "${CAP_PID[$name]}" 2>/dev/null || true; rm -f "${CAP_FILE[$name]}"; done
}
DONE=()
SKIPPED=()
go() { sleep 0.5; }   # let a freshly started capture settle

# ---------------------------------------------------------------- topology
log "creating namespaces $NC (client) and $NS (server)"
ip netns add "$NC"
ip netns add "$NS"
for ns in "$NC" "$NS"; do
    nsx "$ns" ip link set lo up
    # Quiet IPv6: off by default on new links (enabled on the base link
    # only), no DAD, no router solicitations.
    nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
        net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.router_solicitations=0 \
        net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0 \
        net.ipv6.conf.all.router_solicitations=0
done

# link NAME-CLIENT NAME-SERVER : veth pair with offloads off on both ends
link() {
    ip -n "$NC" link add "$1" type veth peer name "$2" netns "$NS"
    nsx "$NC" ethtool -K "$1" tx off rx off tso off gso off gro off >/dev/null
    nsx "$NS" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null
}
offload_off() { nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true; }
up() { ip -n "$1" link set "$2" up; }

# base link c0 <-> s0, IPv4 + IPv6
link $PREFIX-c0 $PREFIX-s0
for pair in "$NC $PREFIX-c0 $C4 $C6" "$NS $PREFIX-s0 $S4 $S6"; do
    # shellcheck disable=SC2086
    set -- $pair
    nsx "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=0"
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" addr add "$4/64" dev "$2" nodad
    up "$1" "$2"
done

# ---------------------------------------------------------------- servers
log "starting servers in $NS"
# small site
cat >"$WORK/www/index.html" <<'EOF'
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>offpath test site</title>
<link rel="stylesheet" href="/style.css"></head>
<body>
<h1>offpath test site</h1>
<p>This page is served by python3 http.server inside a network namespace
so that the offpath test suite has a small, real HTTP capture.</p>
<ul><li><a href="/notes.txt">notes</a></li><li><a href="/data.json">data</a></li></ul>
</body>
</html>
EOF
printf 'body { font-family: sans-serif; margin: 2em; }\nh1 { color: #235; }\n' >"$WORK/www/style.css"
printf '{"name": "offpath", "kind": "fixture", "items": [1, 2, 3], "ok": true}\n' >"$WORK/www/data.json"
for i in $(seq 1 40); do
    printf 'line %02d: the quick brown fox jumps over the lazy dog, offpath notes\n' "$i"
done >"$WORK/www/notes.txt"

cat >"$WORK/httpd.py" <<'EOF'
# HTTP/1.1 (keep-alive) static server, dual-stack on [::]:80
import functools, http.server, socket, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
Server(("::", 80), functools.partial(Handler, directory=sys.argv[1])).serve_forever()
EOF
bg "$NS" httpd python3 "$WORK/httpd.py" "$WORK/www"

# TLS server: self-signed P-256 cert made on the fly; -rev echoes lines reversed
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" -subj "/CN=www.example.com" \
    -addext "subjectAltName=DNS:www.example.com,DNS:api.example.org,DNS:cdn.example.net" \
    >"$WORK/log/openssl-req.log" 2>&1
bg "$NS" tls-server openssl s_server -accept 443 -cert "$WORK/tls/cert.pem" -key "$WORK/tls/key.pem" -rev

# DNS server: dnsmasq with static records; everything else under example.com
# is answered NXDOMAIN (--local), nothing is forwarded anywhere (--no-resolv).
bg "$NS" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --no-poll --bind-interfaces --listen-address=$S4 --port=53 --pid-file= \
    --user=root --log-queries --log-facility=- \
    --local=/example.com/ \
    --host-record=www.example.com,198.18.0.80,2001:2::80 \
    --host-record=mail.example.com,198.18.0.25 \
    --mx-host=example.com,mail.example.com,10 \
    --txt-record=example.com,"v=spf1 ip4:198.18.0.25 -all"

# UDP request/response responder on a non-DNS port: one socat child per
# client flow, answering every datagram with "ack: <request>"
cat >"$WORK/udp-reply.sh" <<'EOF'
while IFS= read -r line; do printf 'ack: %s\n' "$line"; done
EOF
bg "$NS" udp-responder socat -T 3 UDP4-LISTEN:41234,bind=$S4,reuseaddr,fork SYSTEM:"sh $WORK/udp-reply.sh"
# echo servers for the long-idle capture
bg "$NS" tcp-echo socat TCP4-LISTEN:7000,bind=$S4,reuseaddr EXEC:cat
bg "$NS" udp-echo socat -T 30 UDP4-LISTEN:41235,bind=$S4,reuseaddr EXEC:cat

# server for the FIN / RST capture
cat >"$WORK/closer-server.py" <<'EOF'
# Each connection sends one command line; the server closes accordingly.
import socket, struct, sys, threading, time
def handle(c):
    try:
        cmd = c.recv(100).strip()
        if cmd == b"client-fin":            # wait for the client's FIN, then close
            c.sendall(b"ok, close when you like\n")
            while c.recv(100):
                pass
        elif cmd == b"server-fin":          # server closes first
            c.sendall(b"bye from the server\n")
        elif cmd == b"client-rst":          # client will abort with RST
            c.sendall(b"ok, abort when you like\n")
            try:
                while c.recv(100):
                    pass
            except ConnectionResetError:
                pass
        elif cmd == b"server-rst":          # server aborts: SO_LINGER 0 -> RST
            c.sendall(b"resetting now\n")
            time.sleep(0.2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
while True:
    conn, _ = s.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
EOF
cat >"$WORK/closer-client.py" <<'EOF'
import socket, struct, sys, time
host, port, closed_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def conn(cmd):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(cmd + b"\n")
    return s
def drain(s):
    while s.recv(100):
        pass
# 1. client sends FIN first
s = conn(b"client-fin"); s.recv(100); time.sleep(0.1); s.close(); time.sleep(0.4)
# 2. server sends FIN first, client closes after reading EOF
s = conn(b"server-fin"); drain(s); s.close(); time.sleep(0.4)
# 3. client aborts with RST (SO_LINGER 0)
s = conn(b"client-rst"); s.recv(100); time.sleep(0.1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close(); time.sleep(0.4)
# 4. server aborts with RST
s = conn(b"server-rst")
try:
    drain(s)
except ConnectionResetError:
    pass
s.close(); time.sleep(0.4)
# 5. connection refused: SYN to a closed port, answered by RST
try:
    socket.create_connection((host, closed_port), timeout=5)
    sys.exit("port %d unexpectedly open" % closed_port)
except ConnectionRefusedError:
    pass
EOF
bg "$NS" closer-server python3 "$WORK/closer-server.py" $S4 7100

wait_port "$NS" tcp 80
wait_port "$NS" tcp 443
wait_port "$NS" udp 53
wait_port "$NS" tcp 53
wait_port "$NS" udp 41234
wait_port "$NS" udp 41235
wait_port "$NS" tcp 7000
wait_port "$NS" tcp 7100
# let IPv6 link-up chatter (MLD reports) die down before the first capture
sleep 2

flush() { # forget neighbours so each capture starts with ARP / ND
    ip -n "$NC" neigh flush dev "$1" 2>/dev/null || true
    ip -n "$NS" neigh flush dev "$2" 2>/dev/null || true
}
CURL=(curl -sS --noproxy '*' --max-time 5 -o /dev/null)
C0=$PREFIX-c0 S0=$PREFIX-s0

# ---------------------------------------------------------------- 1. HTTP
log "http-curl: curl <-> python http.server (plus the same traffic with ns timestamps)"
flush $C0 $S0
cap http-curl.pcap "$NC" -i $C0
cap http-curl-nsec.pcap "$NC" -i $C0 --time-stamp-precision=nano
go
# keep-alive connection with three requests, client closes (FIN from client)
nsx "$NC" "${CURL[@]}" http://$S4/ -o /dev/null http://$S4/style.css -o /dev/null http://$S4/data.json
sleep 0.3
# HTTP/1.0 request: the server closes first (FIN from server)
nsx "$NC" "${CURL[@]}" --http1.0 http://$S4/notes.txt
sleep 0.3
# 404 and a HEAD request
nsx "$NC" "${CURL[@]}" http://$S4/missing.html
sleep 0.3
nsx "$NC" "${CURL[@]}" -I http://$S4/index.html
stop http-curl.pcap http-curl-nsec.pcap

# ---------------------------------------------------------------- 2. TLS
log "tls-sni: openssl s_client -servername <-> openssl s_server"
flush $C0 $S0
cap tls-sni.pcap "$NC" -i $C0
go
tls() { # servername extra-args...
    local sni=$1; shift
    (printf 'hello %s from offpath\n' "$sni"; sleep 0.6) |
        nsx "$NC" openssl s_client -connect $S4:443 -servername "$sni" "$@" >>"$WORK/log/tls-client.log" 2>&1
    sleep 0.3
}
tls www.example.com -tls1_3 -alpn h2,http/1.1
tls api.example.org -tls1_2
tls cdn.example.net
stop tls-sni.pcap

# ---------------------------------------------------------------- 3. DNS
log "dns: dig <-> dnsmasq (plus the same traffic on -i any as LINUX_SLL v1)"
flush $C0 $S0
cap dns.pcap "$NC" -i $C0
cap dns-sll.pcap "$NC" -i any -y LINUX_SLL
go
DIG=(dig @$S4 +tries=1 +time=2)
nsx "$NC" "${DIG[@]}" www.example.com A >"$WORK/log/dig.log"
nsx "$NC" "${DIG[@]}" www.example.com AAAA >>"$WORK/log/dig.log"
nsx "$NC" "${DIG[@]}" nosuchhost.example.com A >>"$WORK/log/dig.log"
nsx "$NC" "${DIG[@]}" example.com MX >>"$WORK/log/dig.log"
nsx "$NC" "${DIG[@]}" example.com TXT >>"$WORK/log/dig.log"
nsx "$NC" "${DIG[@]}" +tcp mail.example.com A >>"$WORK/log/dig.log"
stop dns.pcap dns-sll.pcap
grep -q 'status: NXDOMAIN' "$WORK/log/dig.log" || die "dns: expected an NXDOMAIN answer"
grep -q '2001:2::80' "$WORK/log/dig.log" || die "dns: expected the AAAA answer"

# ---------------------------------------------------------------- 4. UDP
log "udp-exchange: socat request/response on udp/41234"
flush $C0 $S0
cap udp-exchange.pcap "$NC" -i $C0
go
udp_flow() { # lines...
    local l
    for l in "$@"; do printf '%s\n' "$l"; sleep 0.2; done |
        nsx "$NC" socat -t 1 - UDP4:$S4:41234 >>"$WORK/log/udp-client.log"
}
udp_flow "req 1: status?"
udp_flow "req 2: hello" "req 3: more" "req 4: last"
udp_flow "req 5: single"
udp_flow "req 6: two" "req 7: done"
stop udp-exchange.pcap
[ "$(grep -c '^ack: ' "$WORK/log/udp-client.log")" -eq 7 ] || die "udp-exchange: expected 7 answers"

# ---------------------------------------------------------------- 5. IPv6
log "ipv6: curl -6 and ping -6"
flush $C0 $S0
cap ipv6.pcap "$NC" -i $C0
go
nsx "$NC" ping -6 -n -c 3 -i 0.3 $S6 >"$WORK/log/ping6.log"
nsx "$NC" "${CURL[@]}" -6 "http://[$S6]/"
sleep 0.3
nsx "$NC" "${CURL[@]}" -6 "http://[$S6]/notes.txt"
stop ipv6.pcap

# ---------------------------------------------------------------- 6. VLAN / QinQ
# Preferred: kernel VLAN sub-interfaces (8021q). If the kernel has no 8021q,
# the tags are pushed/popped by the kernel itself (skb_vlan_push/pop) from a
# tiny tc eBPF program on the veths instead: the frames on the wire are the
# same, only the host-side plumbing differs.
cat >"$WORK/bpf-vlan.py" <<'EOF'
# Load a tc (SCHED_CLS, direct-action) eBPF program that pushes VLAN tags
# (bpf_skb_vlan_push) or pops them (bpf_skb_vlan_pop) and pin it to bpffs.
# usage: bpf-vlan.py PIN push PROTO:VID [PROTO:VID ...] | PIN pop COUNT
import ctypes, os, platform, struct, sys
NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "i686": 357}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
MOV_X, MOV_K, CALL, EXIT = 0xBF, 0xB7, 0x85, 0x95
FN_VLAN_PUSH, FN_VLAN_POP = 18, 19
pin, mode = sys.argv[1], sys.argv[2]
prog = insn(MOV_X, 6, 1)                      # r6 = skb
if mode == "push":
    for spec in sys.argv[3:]:
        proto, vid = (int(x, 0) for x in spec.split(":"))
        be_proto = int.from_bytes(proto.to_bytes(2, "big"), sys.byteorder)
        prog += insn(MOV_X, 1, 6) + insn(MOV_K, 2, imm=be_proto) + insn(MOV_K, 3, imm=vid)
        prog += insn(CALL, imm=FN_VLAN_PUSH)
else:
    for _ in range(int(sys.argv[3])):
        prog += insn(MOV_X, 1, 6) + insn(CALL, imm=FN_VLAN_POP)
prog += insn(MOV_K, 0, imm=0) + insn(EXIT)    # TC_ACT_OK
code = ctypes.create_string_buffer(prog, len(prog))
lic = ctypes.create_string_buffer(b"GPL")
logbuf = ctypes.create_string_buffer(1 << 16)
attr = ctypes.create_string_buffer(struct.pack("<IIQQIIQII16s", 3, len(prog) // 8,
    ctypes.addressof(code), ctypes.addressof(lic), 1, len(logbuf), ctypes.addressof(logbuf),
    0, 0, b"offp_vlan"), 128)
fd = libc.syscall(NR_BPF, 5, attr, 128)       # BPF_PROG_LOAD, type SCHED_CLS
if fd < 0:
    sys.exit("BPF_PROG_LOAD: %s\n%s" % (os.strerror(ctypes.get_errno()), logbuf.value.decode()))
path = ctypes.create_string_buffer(pin.encode())
attr = ctypes.create_string_buffer(struct.pack("<QII", ctypes.addressof(path), fd, 0), 128)
if libc.syscall(NR_BPF, 6, attr, 128) < 0:   # BPF_OBJ_PIN
    sys.exit("BPF_OBJ_PIN: %s" % os.strerror(ctypes.get_errno()))
EOF
bpf_tag() { # IF-client IF-server PUSH-SPECS... -- POPS   (returns 1 if unusable)
    local ci=$1 si=$2 pins=() pops ns dev; shift 2
    while [ "$1" != -- ]; do pins+=("$1"); shift; done
    pops=$2
    if [ -z "$BPFFS" ]; then
        mkdir -p "$WORK/bpffs" || return 1
        mount -t bpf "$PREFIX-bpf" "$WORK/bpffs" 2>>"$WORK/log/bpf.log" || return 1
        BPFFS=$WORK/bpffs
    fi
    python3 "$WORK/bpf-vlan.py" "$BPFFS/push-$ci" push "${pins[@]}" 2>>"$WORK/log/bpf.log" || return 1
    python3 "$WORK/bpf-vlan.py" "$BPFFS/pop-$ci" pop "$pops" 2>>"$WORK/log/bpf.log" || return 1
    for ns in "$NC:$ci" "$NS:$si"; do
        dev=${ns#*:}; ns=${ns%%:*}
        tc -n "$ns" qdisc add dev "$dev" clsact 2>>"$WORK/log/bpf.log" || return 1
        tc -n "$ns" filter add dev "$dev" egress bpf da object-pinned "$BPFFS/push-$ci" 2>>"$WORK/log/bpf.log" || return 1
        tc -n "$ns" filter add dev "$dev" ingress bpf da object-pinned "$BPFFS/pop-$ci" 2>>"$WORK/log/bpf.log" || return 1
    done
}
have_vlan() { ip -n "$NC" link add link "$1" name "$2" type vlan "${@:3}" 2>/dev/null; }
# plain addresses straight on a veth pair
addr_pair() { ip -n "$NC" addr add "$3/24" dev "$1"; ip -n "$NS" addr add "$4/24" dev "$2"; }

C1=$PREFIX-c1 S1=$PREFIX-s1
link $C1 $S1
up "$NC" $C1; up "$NS" $S1
if have_vlan $C1 $PREFIX-cv id 100; then
    VLAN_MODE="kernel 802.1Q sub-interfaces (ip link type vlan id 100)"
    ip -n "$NS" link add link $S1 name $PREFIX-sv type vlan id 100
    offload_off "$NC" $PREFIX-cv; offload_off "$NS" $PREFIX-sv
    addr_pair $PREFIX-cv $PREFIX-sv $VC $VS
    up "$NC" $PREFIX-cv; up "$NS" $PREFIX-sv
elif bpf_tag $C1 $S1 0x8100:100 -- 1; then
    VLAN_MODE="tc eBPF bpf_skb_vlan_push/pop on the veths (kernel has no 8021q)"
    note "kernel has no 802.1Q VLAN devices (8021q): the kernel tags the frames via tc eBPF skb_vlan_push/pop instead"
    addr_pair $C1 $S1 $VC $VS
else
    VLAN_MODE=""
    note "no 802.1Q support (no 8021q, and tc eBPF tagging failed: $(tail -n 2 "$WORK/log/bpf.log" 2>/dev/null)): vlan.pcap and qinq.pcap not recorded"
    SKIPPED+=("vlan.pcap: no 8021q and no tc eBPF" "qinq.pcap: no 8021q and no tc eBPF")
    tc -n "$NC" qdisc del dev $C1 clsact 2>/dev/null || true
    tc -n "$NS" qdisc del dev $S1 clsact 2>/dev/null || true
    addr_pair $C1 $S1 $VC $VS   # untagged: still good for the two-interface pcapng
fi
log "vlan: ping + curl over VLAN 100 via ${VLAN_MODE:-an untagged link}; multi-if.pcapng: dumpcap on $C0 and $C1 at once"
flush $C0 $S0
[ -n "$VLAN_MODE" ] && cap vlan.pcap "$NC" -i $C1
capng multi-if.pcapng "$NC" $C0 $C1
go
nsx "$NC" ping -n -c 2 -i 0.3 $VS >"$WORK/log/ping-vlan.log"
nsx "$NC" "${CURL[@]}" http://$VS/notes.txt &
CURL_PID=$!
nsx "$NC" "${CURL[@]}" http://$S4/style.css
wait $CURL_PID
sleep 0.3
nsx "$NC" "${CURL[@]}" http://$VS/data.json
if [ -n "$VLAN_MODE" ]; then stop vlan.pcap multi-if.pcapng; else stop multi-if.pcapng; fi

C2=$PREFIX-c2 S2=$PREFIX-s2
link $C2 $S2
up "$NC" $C2; up "$NS" $S2
QINQ_MODE=""
if [ -z "$VLAN_MODE" ]; then
    :
elif have_vlan $C2 $PREFIX-cs protocol 802.1ad id 200; then
    if ip -n "$NC" link add link $PREFIX-cs name $PREFIX-cc type vlan id 100; then
        QINQ_MODE="kernel VLAN sub-interfaces (802.1ad id 200, then 802.1Q id 100 on top)"
        ip -n "$NS" link add link $S2 name $PREFIX-ss type vlan protocol 802.1ad id 200
        ip -n "$NS" link add link $PREFIX-ss name $PREFIX-sc type vlan id 100
        for d in cs cc; do offload_off "$NC" $PREFIX-$d; up "$NC" $PREFIX-$d; done
        for d in ss sc; do offload_off "$NS" $PREFIX-$d; up "$NS" $PREFIX-$d; done
        addr_pair $PREFIX-cc $PREFIX-sc $QC $QS
    fi
elif [ -n "$BPFFS" ] && bpf_tag $C2 $S2 0x8100:100 0x88a8:200 -- 2; then
    QINQ_MODE="tc eBPF bpf_skb_vlan_push/pop on the veths (kernel has no 8021q)"
    addr_pair $C2 $S2 $QC $QS
fi
if [ -n "$QINQ_MODE" ]; then
    log "qinq: ping + curl over S-VLAN 200 / C-VLAN 100 via $QINQ_MODE"
    cap qinq.pcap "$NC" -i $C2
    go
    nsx "$NC" ping -n -c 2 -i 0.3 $QS >"$WORK/log/ping-qinq.log"
    nsx "$NC" "${CURL[@]}" http://$QS/notes.txt
    stop qinq.pcap
elif [ -n "$VLAN_MODE" ]; then
    note "kernel has no 802.1ad VLAN support: qinq.pcap not recorded"
    SKIPPED+=("qinq.pcap: no 802.1ad support")
fi

# ---------------------------------------------------------------- 7. SYN scan
log "syn-scan: nmap -sS over 101 ports (open: 53, 80, 443)"
flush $C0 $S0
cap syn-scan.pcap "$NC" -i $C0
go
nsx "$NC" nmap -sS -n -Pn -T4 --max-retries 1 -e $C0 -p 1-100,443 $S4 >"$WORK/log/nmap.log" 2>&1
stop syn-scan.pcap
grep -q '^80/tcp *open' "$WORK/log/nmap.log" || die "syn-scan: nmap did not find port 80 open: $(cat "$WORK/log/nmap.log")"

# ---------------------------------------------------------------- 9. FIN / RST
log "rst-fin: client FIN, server FIN, client RST, server RST, refused (plus -i any as LINUX_SLL2)"
flush $C0 $S0
cap rst-fin.pcap "$NC" -i $C0
cap rst-fin-sll2.pcap "$NC" -i any -y LINUX_SLL2
go
nsx "$NC" python3 "$WORK/closer-client.py" $S4 7100 7101
stop rst-fin.pcap rst-fin-sll2.pcap

# ---------------------------------------------------------------- 11. tunnels
C3=$PREFIX-c3 S3=$PREFIX-s3
link $C3 $S3
ip -n "$NC" addr add $UC/24 dev $C3; ip -n "$NS" addr add $US/24 dev $S3
up "$NC" $C3; up "$NS" $S3

# tunnel NAME FILE CLIENT-OVERLAY SERVER-OVERLAY IP-LINK-ARGS...
tunnel() {
    local name=$1 file=$2 oc=$3 os=$4; shift 4
    local cdev=$PREFIX-c$name sdev=$PREFIX-s$name err
    if ! err=$(ip -n "$NC" link add $cdev "$@" dev $C3 local $UC remote $US 2>&1); then
        note "kernel cannot create '$*' ($err): $file not recorded"
        SKIPPED+=("$file: ip link add ... type $2 failed: $err")
        return 0
    fi
    ip -n "$NS" link add $sdev "$@" dev $S3 local $US remote $UC
    offload_off "$NC" $cdev; offload_off "$NS" $sdev
    ip -n "$NC" addr add $oc/24 dev $cdev; ip -n "$NS" addr add $os/24 dev $sdev
    up "$NC" $cdev; up "$NS" $sdev
    sleep 0.2
    log "$file: ping + curl through $* captured on the underlay"
    flush $C3 $S3
    cap "$file" "$NC" -i $C3
    go
    if nsx "$NC" ping -n -c 2 -i 0.3 "$os" >"$WORK/log/ping-$name.log" 2>&1 &&
        nsx "$NC" "${CURL[@]}" "http://$os/notes.txt" 2>"$WORK/log/curl-$name.log"; then
        stop "$file"
    else
        discard "$file"
        note "no traffic got through $* : $file not recorded"
        SKIPPED+=("$file: tunnel created but ping/curl through it failed")
    fi
    ip -n "$NC" link del $cdev; ip -n "$NS" link del $sdev
}
tunnel x vxlan.pcap $XC $XS type vxlan id 42 dstport 4789
tunnel g gre.pcap $GC $GS type gre ttl 64
tunnel e1 erspan2.pcap $E1C $E1S type erspan seq key 1 erspan_ver 1 erspan 101
tunnel e2 erspan3.pcap $E2C $E2S type erspan seq key 2 erspan_ver 2 erspan_dir ingress erspan_hwid 7

# ---------------------------------------------------------------- 8. long idle
log "long-idle: one TCP connection with 3-6 s gaps and a UDP flow with a 12 s gap (~20 s)"
flush $C0 $S0
cap long-idle.pcap "$NC" -i $C0
go
(for gap in 3 5 4 6 0; do printf 'tick after %s s\n' "$gap"; sleep "$gap"; done; sleep 0.5) |
    nsx "$NC" socat -t 2 - TCP4:$S4:7000 >"$WORK/log/long-idle-tcp.log" &
TCP_CLIENT=$!
(printf 'udp 1\n'; sleep 1; printf 'udp 2\n'; sleep 12; printf 'udp 3 after the gap\n'; sleep 0.5) |
    nsx "$NC" socat -t 1 - UDP4:$S4:41235 >"$WORK/log/long-idle-udp.log"
wait $TCP_CLIENT
stop long-idle.pcap
[ "$(wc -l <"$WORK/log/long-idle-tcp.log")" -eq 5 ] || die "long-idle: TCP echo incomplete"
[ "$(wc -l <"$WORK/log/long-idle-udp.log")" -eq 3 ] || die "long-idle: UDP echo incomplete"

# ---------------------------------------------------------------- summary
log "done; summary (as tshark counts them):"
printf '  %-20s %-12s %7s %5s %5s %7s\n' file encap packets tcp udp streams >&2
for f in "${DONE[@]}"; do
    pk=$(capinfos -c -M "$OUT/$f" | awk -F': *' '/Number of packets/ {print $2}')
    enc=$(capinfos -E "$OUT/$f" | awk -F': *' '/encapsulation/ {print $2}')
    tcp=$(tshark -r "$OUT/$f" -q -z conv,tcp 2>/dev/null | grep -c '<->' || true)
    udp=$(tshark -r "$OUT/$f" -q -z conv,udp 2>/dev/null | grep -c '<->' || true)
    streams=$(tshark -r "$OUT/$f" -T fields -e tcp.stream 2>/dev/null | sort -u | grep -c . || true)
    printf '  %-20s %-12s %7s %5s %5s %7s\n' "$f" "$enc" "$pk" "$tcp" "$udp" "$streams" >&2
done
for s in "${SKIPPED[@]}"; do log "skipped $s"; done
