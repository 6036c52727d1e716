#!/usr/bin/env bash
# bench.sh: what does mutual TLS cost? Our chapter 02 and 03 servers side by side with
# `openssl s_server` and nginx (when installed), under the same load and the same certificates.
#
#   scripts/bench.sh [--time T] [--rounds N] [--ecdsa] [--markdown] [--smoke] [--certs DIR]
#
# Load: 2 `openssl s_time` clients at once, each presenting the client certificate and asking for
# GET /, for T seconds, first with a full handshake per connection (-new), then resuming one
# session (-reuse). For each server and mode it reports connections per second, how many resumed,
# the server's CPU time (user + system, from /proc/PID/stat) per connection, and its memory.
# Then the ratios, and the 04 client's wall time for one GET against curl's.
#
# It is a benchmark, not a test: nothing here judges a timing. `--smoke` (1 s per mode) only
# checks that every server answered and the table came out; `make test` runs it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [--time T] [--rounds N] [--ecdsa] [--markdown] [--smoke] [--certs DIR]

Measure connections per second and server CPU per connection for chapters 02 and 03,
openssl s_server and nginx (if installed), with full and with resumed mTLS handshakes.

  --time T      seconds of load per server and mode (default 5)
  --rounds N    measure every server and mode N times, taking turns, and show the
                medians (default 1; 3 or more on a machine that is busy with other work)
  --ecdsa       ECDSA P-256 server and client certificates (default RSA-2048)
  --markdown    also print the results as a Markdown table
  --smoke       1 second per mode, fewer client runs: only checks that the table comes out
  --certs DIR   start from the certificates in DIR (copied; anything missing is made)
  --help        show this help
EOF
}

SECONDS_PER_MODE=5 ROUNDS=1 KEY_TYPE=rsa MARKDOWN=0 SMOKE=0 CERTS_FROM=''
CLIENTS=2                     # parallel s_time clients
CLIENT_RUNS=30                # runs of each HTTPS client in the 04-vs-curl comparison

while (($# > 0)); do
    case $1 in
        --time)
            if [[ ${2:-} =~ ^[1-9][0-9]*$ ]]; then SECONDS_PER_MODE=$2; shift
            else echo "bench.sh: --time needs a whole number of seconds, not '${2:-}'" >&2; usage >&2; exit 2
            fi ;;
        --rounds)
            if [[ ${2:-} =~ ^[1-9][0-9]*$ ]]; then ROUNDS=$2; shift
            else echo "bench.sh: --rounds needs a whole number, not '${2:-}'" >&2; usage >&2; exit 2
            fi ;;
        --certs)
            if [[ -d ${2:-} ]]; then CERTS_FROM=$2; shift
            else echo "bench.sh: --certs needs a directory, not '${2:-}'" >&2; usage >&2; exit 2
            fi ;;
        --ecdsa) KEY_TYPE=ecdsa ;;
        --markdown) MARKDOWN=1 ;;
        --smoke) SMOKE=1 ;;
        --help | -h) usage; exit 0 ;;
        *) echo "bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if ((SMOKE)); then SECONDS_PER_MODE=1 ROUNDS=1 CLIENT_RUNS=5; fi

SERVER_02=02-mtls-server/server
SERVER_03=03-custom-ca-validation/server
CLIENT_04=04-client/client
for program in "$SERVER_02" "$SERVER_03"; do
    if [[ ! -x $program ]]; then echo "bench.sh: $program is not built; run 'make' first" >&2; exit 1; fi
done
# Debian installs nginx in /usr/sbin, which is not on an ordinary user's PATH.
NGINX=$(PATH=$PATH:/usr/sbin:/usr/local/sbin command -v nginx || true)
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Scratch directory, and stopping everything we started (by PID) however the script ends
# ---------------------------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-bench.XXXXXX")
STARTED=()                    # PIDs of every server started, stopped by stop_started

# stop PID: SIGTERM, up to 5 s to exit, then SIGKILL.
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_started() {
    local pid
    for pid in "${STARTED[@]}"; do stop "$pid"; done
    STARTED=()
}

trap 'stop_started; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------------------------

# A TCP port nobody listens on now (the kernel picks it; taken back before we use it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN: up to 10 s for a line matching PATTERN in FILE; prints that line.
wait_for() {
    local i
    for ((i = 0; i < 100; i++)); do
        if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# CPU time (user + system, in clock ticks) of a process. /proc/PID/stat counts all its threads,
# including those that have exited; the command name in parentheses may hold spaces, so the
# fields are counted from the last ')'.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# memory_kb PID FIELD: VmHWM (peak resident memory) or VmRSS (now), in kB.
memory_kb() {
    awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

# ratio A B [DECIMALS]: A / B, or "n/a" when either is missing or B is zero.
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"
        else printf "%.*f\n", d, a / b }'
}

# ---------------------------------------------------------------------------------------------
# Certificates: the same for every server (RSA-2048 by default, ECDSA P-256 with --ecdsa)
# ---------------------------------------------------------------------------------------------

CERTS=$WORK/certs
make_certs() {
    if [[ -n $CERTS_FROM ]]; then
        mkdir -p "$CERTS"
        cp "$CERTS_FROM"/*.crt "$CERTS_FROM"/*.key "$CERTS_FROM"/*.crl "$CERTS" 2>/dev/null || true
    fi
    if ! scripts/gen-certs.sh "$CERTS" >"$WORK/gen-certs.log" 2>&1; then
        echo "bench.sh: scripts/gen-certs.sh failed:" >&2
        tail -5 "$WORK/gen-certs.log" >&2
        exit 1
    fi
    if [[ $KEY_TYPE == ecdsa ]]; then SERVER_NAME=ecdsa-server CLIENT_NAME=ecdsa-client KEY_LABEL="ECDSA P-256"
    else SERVER_NAME=server CLIENT_NAME=client KEY_LABEL=RSA-2048
    fi
    SERVER_CERT=$CERTS/$SERVER_NAME.crt SERVER_KEY=$CERTS/$SERVER_NAME.key
    CLIENT_CERT=$CERTS/$CLIENT_NAME.crt CLIENT_KEY=$CERTS/$CLIENT_NAME.key CA=$CERTS/ca.crt
}

# ---------------------------------------------------------------------------------------------
# Servers. Each start_* function sets SERVER_PORT, SERVER_PID (what we stop) and MEASURED_PID
# (the process doing the TLS work, whose CPU and memory we read), or returns 1 after saying why.
# ---------------------------------------------------------------------------------------------

# start_ours LABEL PROGRAM [ARGS...]: a chapter server on a port it picks itself (--port 0).
start_ours() {
    local label=$1 program=$2 line
    shift 2
    "$program" --port 0 --cert "$SERVER_CERT" --key "$SERVER_KEY" "$@" >"$WORK/$label.log" 2>&1 &
    SERVER_PID=$! MEASURED_PID=$!
    STARTED+=("$SERVER_PID")
    if ! line=$(wait_for "$WORK/$label.log" '^Listening on https://localhost:[0-9]+$'); then
        echo "bench.sh: $program did not start:" >&2
        tail -3 "$WORK/$label.log" >&2
        return 1
    fi
    SERVER_PORT=${line##*:}
}

start_02() { start_ours 02 "$SERVER_02"; }
start_03() { start_ours 03 "$SERVER_03" --ca "$CA"; }

# openssl s_server: one process, one connection at a time; -www answers with a status page.
start_s_server() {
    SERVER_PORT=$(free_port)
    openssl s_server -accept "127.0.0.1:$SERVER_PORT" -cert "$SERVER_CERT" -key "$SERVER_KEY" \
        -Verify 1 -CAfile "$CA" -www >"$WORK/s_server.log" 2>&1 </dev/null &
    SERVER_PID=$! MEASURED_PID=$!
    STARTED+=("$SERVER_PID")
    if ! wait_for "$WORK/s_server.log" '^ACCEPT' >/dev/null; then
        echo "bench.sh: openssl s_server did not start:" >&2
        tail -3 "$WORK/s_server.log" >&2
        return 1
    fi
}

# nginx with one worker, in the foreground of a background job, as the current user, with every
# file it writes (pid, logs, temporary directories) in the scratch directory. Like ours it logs
# every request, and speaks TLS 1.2 and 1.3: before 1.23.4 its default is TLS 1.2 at most, and
# comparing our TLS 1.3 handshakes with its TLS 1.2 ones would not be like for like.
start_nginx() {
    local dir=$WORK/nginx user='' i
    mkdir -p "$dir"
    SERVER_PORT=$(free_port)
    # Started as root, nginx would hand its worker to "nobody"; keep it the same user as ours.
    if ((EUID == 0)); then user="user $(id -un) $(id -gn);"; fi
    cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$SERVER_PORT ssl;
        ssl_certificate $SERVER_CERT;
        ssl_certificate_key $SERVER_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client on;
        ssl_client_certificate $CA;
        ssl_session_cache shared:SSL:10m;
        default_type text/plain;
        location / { return 200 "Hello World!"; }
    }
}
EOF
    "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 </dev/null &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    # The master binds the port, then forks the worker: once the worker exists, nginx is ready.
    MEASURED_PID=''
    for ((i = 0; i < 100; i++)); do
        MEASURED_PID=$(pgrep -P "$SERVER_PID" | head -1 || true)
        if [[ -n $MEASURED_PID ]] || ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [[ -z $MEASURED_PID ]]; then
        echo "bench.sh: nginx did not start:" >&2
        tail -3 "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null || true
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------

# Every server runs from start to end, each on its own port; PORT_OF and MEASURED_OF remember
# them. START_KB holds each one's resident memory before any load.
declare -A PORT_OF MEASURED_OF START_KB

# start_server NAME: starts it and adds it to SERVERS, or adds a note saying why it is missing.
start_server() {
    local server=$1
    if [[ $server == nginx && -z $NGINX ]]; then
        NOTES+=("nginx is not installed: its rows are missing (Debian: apt-get install nginx-light).")
        return 0
    fi
    if ! case $server in 02) start_02 ;; 03) start_03 ;; s_server) start_s_server ;; nginx) start_nginx ;; esac then
        NOTES+=("$server did not start: its rows are missing.")
        return 0
    fi
    SERVERS+=("$server")
    PORT_OF[$server]=$SERVER_PORT MEASURED_OF[$server]=$MEASURED_PID
    START_KB[$server]=$(memory_kb "$MEASURED_PID" VmRSS)
}

# Results, keyed "SERVER MODE". Each round adds to RATES and CPUS (lists of connections/s and of
# CPU ms per connection), CONNS, RESUMED and FULL (connections that did or did not resume);
# PEAK_KB and RSS_KB are the memory after the latest round.
declare -A RATES CPUS CONNS RESUMED FULL PEAK_KB RSS_KB

# measure_load SERVER MODE: CLIENTS s_time clients at once for SECONDS_PER_MODE seconds (MODE is
# new or reuse); reads the server's CPU time before and after, and times the clients ourselves:
# s_time's own "in N real seconds" is rounded to whole seconds, and its "in X.XXs" is its CPU time.
measure_load() {
    local server=$1 mode=$2 key="$1 $2" pid=${MEASURED_OF[$1]} i cpu_before cpu_after start end
    local connections counts pids=()
    rm -f "$WORK/$server.$mode".*.out
    cpu_before=$(cpu_ticks "$pid")
    start=$(date +%s%N)
    for ((i = 1; i <= CLIENTS; i++)); do
        timeout $((SECONDS_PER_MODE + 30)) openssl s_time -connect "127.0.0.1:${PORT_OF[$server]}" \
            -cert "$CLIENT_CERT" -key "$CLIENT_KEY" -CAfile "$CA" -www / \
            -time "$SECONDS_PER_MODE" "-$mode" >"$WORK/$server.$mode.$i.out" 2>&1 </dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    end=$(date +%s%N)
    cpu_after=$(cpu_ticks "$pid")

    # "1238 connections in 0.45s; 2751.11 connections/user sec, ..." once per client (its second
    # summary line, "... in 3 real seconds ...", counts the same connections again). The progress
    # line has one '*' per new session and one 'r' per resumed one.
    connections=$(cat "$WORK/$server.$mode".*.out | awk '/ connections in [0-9.]+s;/ { n += $1 } END { print n + 0 }')
    counts=$(cat "$WORK/$server.$mode".*.out | awk '/^[*r]+$/ { r += gsub(/r/, ""); s += gsub(/\*/, "") }
                                                  END { print r + 0, s + 0 }')
    CONNS[$key]=$((${CONNS[$key]:-0} + connections))
    RESUMED[$key]=$((${RESUMED[$key]:-0} + ${counts% *})) FULL[$key]=$((${FULL[$key]:-0} + ${counts#* }))
    if ((connections == 0)); then
        echo "bench.sh: $server served no connection in -$mode mode; s_time said:" >&2
        tail -3 "$WORK/$server.$mode.1.out" >&2
    else
        RATES[$key]+=" $(awk -v n="$connections" -v ns=$((end - start)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')"
        CPUS[$key]+=" $(awk -v t=$((cpu_after - cpu_before)) -v hz="$CLK_TCK" -v n="$connections" \
                            'BEGIN { printf "%.3f", t * 1000 / hz / n }')"
    fi
    PEAK_KB[$key]=$(memory_kb "$pid" VmHWM)
    RSS_KB[$key]=$(memory_kb "$pid" VmRSS)
}

# median LIST: the middle value of a space-separated list (mean of the two middle ones), or n/a.
median() {
    # shellcheck disable=SC2086  # the list is split on purpose
    printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "n/a"
        else if (NR % 2) print v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The figures the table and the ratios show, keyed "SERVER MODE": medians over the rounds.
declare -A RATE CPU_MS REUSED
summarize() {
    local key
    for key in "${!CONNS[@]}"; do
        RATE[$key]=$(median "${RATES[$key]:-}") CPU_MS[$key]=$(median "${CPUS[$key]:-}")
        REUSED[$key]=$(awk -v r="${RESUMED[$key]}" -v f="${FULL[$key]}" 'BEGIN {
                           if (r + f == 0) print "n/a"; else printf "%.0f%%\n", 100 * r / (r + f) }')
    done
}

# time_client NAME COMMAND...: mean wall time in ms of COMMAND over CLIENT_RUNS runs, into
# CLIENT_MS[NAME]. hyperfine when installed, else a plain loop timed with date.
declare -A CLIENT_MS
time_client() {
    local name=$1 start end i
    shift
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 3 --runs "$CLIENT_RUNS" --export-csv "$WORK/$name.csv" "$*" \
            >"$WORK/$name.hyperfine" 2>&1 || true
        CLIENT_MS[$name]=$(awk -F, 'NR == 2 { printf "%.2f", $2 * 1000 }' "$WORK/$name.csv" 2>/dev/null)
    else
        start=$(date +%s%N)
        for ((i = 0; i < CLIENT_RUNS; i++)); do timeout 10 "$@" >/dev/null 2>&1 || true; done
        end=$(date +%s%N)
        CLIENT_MS[$name]=$(awk -v ns=$((end - start)) -v n="$CLIENT_RUNS" 'BEGIN { printf "%.2f", ns / n / 1e6 }')
    fi
    CLIENT_MS[$name]=${CLIENT_MS[$name]:-n/a}
}

# The 04 client against curl: one mTLS GET / to chapter 03, start to finish.
compare_clients() {
    local url
    CLIENT_MS[client]=n/a CLIENT_MS[curl]=n/a
    if [[ ! -x $CLIENT_04 ]]; then
        NOTES+=("$CLIENT_04 is not built: the 04 client vs curl comparison is skipped.")
        return 0
    fi
    if [[ -z ${PORT_OF[03]:-} ]]; then return 0; fi
    echo "bench.sh: 04 client vs curl ..." >&2
    url=https://localhost:${PORT_OF[03]}/
    time_client client "$CLIENT_04" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" --ca "$CA" "$url"
    if command -v curl >/dev/null; then
        time_client curl curl -sS -o /dev/null --cacert "$CA" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" "$url"
    fi
}

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

mib() { awk -v kb="$1" 'BEGIN { if (kb == "") print "n/a"; else printf "%.1f", kb / 1024 }'; }

# The rows of the table, one per server and mode, fields separated by '|'.
table_rows() {
    local server mode key label
    echo "server|mode|connections|conn/s|resumed|CPU ms/conn|RSS idle MiB|RSS peak MiB|RSS after MiB"
    for server in "${SERVERS[@]}"; do
        for mode in new reuse; do
            key="$server $mode"
            case $mode in new) label=full ;; reuse) label=resumed ;; esac
            echo "$server|$label|${CONNS[$key]}|${RATE[$key]}|${REUSED[$key]}|${CPU_MS[$key]}|$(mib "${START_KB[$server]}")|$(mib "${PEAK_KB[$key]}")|$(mib "${RSS_KB[$key]}")"
        done
    done
}

print_plain() {
    table_rows | awk -F'|' '{ for (i = 1; i <= NF; i++) cell[NR, i] = $i; if (NF > nf) nf = NF
                               for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i) }
        END { for (r = 1; r <= NR; r++) { line = ""
                  for (i = 1; i <= nf; i++) line = line sprintf(i <= 2 ? "%-*s  " : "%*s  ", w[i], cell[r, i])
                  sub(/ +$/, "", line); print line } }'
}

print_markdown() {
    table_rows | awk -F'|' 'NR == 1 { print "| " $0 " |"; sep = "|"
                                      for (i = 1; i <= NF; i++) sep = sep (i <= 2 ? " --- |" : " ---: |")
                                      print sep; next }
                             { print "| " $0 " |" }' | sed 's/|/ | /g; s/  */ /g; s/^ //; s/ $//'
}

# The ratios the issue asks for: each a line "what: value".
print_ratios() {
    local s
    echo "03 vs 02, CPU per full handshake (cost of validating against our CA): $(ratio "${CPU_MS[03 new]:-}" "${CPU_MS[02 new]:-}")"
    echo "03 vs nginx, CPU per full handshake: $(ratio "${CPU_MS[03 new]:-}" "${CPU_MS[nginx new]:-}"); rate: $(ratio "${RATE[03 new]:-}" "${RATE[nginx new]:-}")"
    echo "03 vs nginx, CPU per resumed handshake: $(ratio "${CPU_MS[03 reuse]:-}" "${CPU_MS[nginx reuse]:-}"); rate: $(ratio "${RATE[03 reuse]:-}" "${RATE[nginx reuse]:-}")"
    echo "03 vs s_server, CPU per full handshake: $(ratio "${CPU_MS[03 new]:-}" "${CPU_MS[s_server new]:-}"); rate: $(ratio "${RATE[03 new]:-}" "${RATE[s_server new]:-}")"
    for s in "${SERVERS[@]}"; do
        echo "$s resumed vs full: CPU per connection $(ratio "${CPU_MS[$s reuse]}" "${CPU_MS[$s new]}"), rate $(ratio "${RATE[$s reuse]}" "${RATE[$s new]}")"
    done
    echo "04 client vs curl, wall time of one mTLS GET to 03: ${CLIENT_MS[client]} ms vs ${CLIENT_MS[curl]} ms = $(ratio "${CLIENT_MS[client]}" "${CLIENT_MS[curl]}")"
}

machine_line() {
    local cpu nginx_version
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    nginx_version=$([[ -n $NGINX ]] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo "nginx not installed")
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs (${cpu:-unknown CPU}), $(openssl version | cut -d' ' -f1-2)," \
         "${nginx_version}; $KEY_LABEL certificates, $CLIENTS s_time clients, ${SECONDS_PER_MODE} s per mode," \
         "$([[ $ROUNDS == 1 ]] && echo "1 round" || echo "median of $ROUNDS rounds"), load average $LOAD_BEFORE before, $LOAD_AFTER after"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

SERVERS=() NOTES=()
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: making certificates ..." >&2
make_certs
for server in 02 03 s_server nginx; do start_server "$server"; done
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in new reuse; do
        echo "bench.sh: round $round of $ROUNDS, s_time -$mode, ${SECONDS_PER_MODE} s against each of: ${SERVERS[*]}" >&2
        for server in "${SERVERS[@]}"; do measure_load "$server" "$mode"; done
    done
done
summarize
compare_clients
stop_started
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)

echo
echo "mTLS GET / with $KEY_LABEL certificates: full handshakes (s_time -new), then resumed (-reuse)"
machine_line
echo
print_plain
echo
print_ratios
for server in "${SERVERS[@]}"; do
    resumed=${REUSED[$server reuse]%\%}
    if [[ $resumed =~ ^[0-9]+$ ]] && ((resumed < 90)); then
        NOTES+=("$server resumed only $resumed% of its -reuse connections: its 'resumed' row is mostly full handshakes.")
    fi
done
if awk -v l="$LOAD_BEFORE" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    NOTES+=("the load average was $LOAD_BEFORE before the run: other programs shared the CPUs, so the figures are noisy$( ((ROUNDS > 1)) || echo " (try --rounds 3)").")
fi
for note in "${NOTES[@]}"; do echo "note: $note"; done
if ((MARKDOWN)); then
    echo
    echo "Measured $(machine_line)."
    echo
    print_markdown
    echo
    print_ratios | sed 's/^/- /'
fi

# Every server must have served connections in both modes, or the benchmark measured nothing.
for server in "${SERVERS[@]}"; do
    for mode in new reuse; do
        if [[ ${CONNS[$server $mode]} == 0 ]]; then exit 1; fi
    done
done
if ((${#SERVERS[@]} < 2)); then exit 1; fi
exit 0
