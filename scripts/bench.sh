#!/usr/bin/env bash
# bench.sh: what does mutual TLS cost? The production server (chapter 05) and the lesson it grew
# from (chapter 03, a thread per connection) side by side with `openssl s_server` and nginx (when
# installed), under the same load and the same certificates.
#
#   scripts/bench.sh [--time T] [--rounds N] [--ecdsa] [--markdown] [--smoke] [--certs DIR]
#                    [--baseline DIR]
#
# Load: 2 `openssl s_time` clients at once, each presenting the client certificate and asking for
# GET /, for T seconds, first with a full handshake per connection (-new), then resuming one
# session (-reuse). For each server and mode it reports connections per second, how many resumed,
# the server's CPU time (user + system, from /proc/PID/stat) per connection, and its memory.
# Then the ratios, each the median of the rounds' ratios with their spread (min-max), a pass or
# miss line for each target, and the 04 client's wall time for one GET against curl's.
# Each server's memory ("RSS after") is read once it has served at least 10,000 connections.
#
# Figures from a busy machine are noise: the load average is printed before and after, with the
# CPU time other programs took while the servers were measured, and a warning when either says
# the machine was busy (load above half the CPUs, or other programs over 10% of its CPU time).
#
# It is a benchmark, not a test: nothing here judges a timing. `--smoke` (1 s per mode) only
# checks that every server answered and the table came out; `make test` runs it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [--time T] [--rounds N] [--ecdsa] [--markdown] [--smoke] [--certs DIR]
                        [--baseline DIR]

Measure connections per second and server CPU per connection for chapters 05 and 03,
openssl s_server and nginx (if installed), with full and with resumed mTLS handshakes.

  --time T      seconds of load per server and mode (default 5)
  --rounds N    measure every server and mode N times, taking turns, and show the
                medians and the spread of each ratio (default 3)
  --ecdsa       ECDSA P-256 server and client certificates (default RSA-2048)
  --markdown    also print the results as a Markdown table
  --smoke       1 second per mode, fewer client runs: only checks that the table comes out
  --certs DIR   start from the certificates in DIR (copied; anything missing is made)
  --baseline DIR  also measure DIR/03-custom-ca-validation/server (say, a build of another
                branch) in the same rounds, as "03-base", and compare 03 with it
  --help        show this help
EOF
}

SECONDS_PER_MODE=5 ROUNDS=3 KEY_TYPE=rsa MARKDOWN=0 SMOKE=0 CERTS_FROM='' BASELINE=''
CLIENTS=2                     # parallel s_time clients
CLIENT_RUNS=30                # runs of each HTTPS client in the 04-vs-curl comparison
RSS_AFTER=10000               # connections each server serves before its memory is read

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
        --baseline)
            if [[ -x ${2:-}/03-custom-ca-validation/server ]]; then BASELINE=$2; shift
            else echo "bench.sh: --baseline needs a directory holding 03-custom-ca-validation/server, not '${2:-}'" >&2; usage >&2; exit 2
            fi ;;
        --ecdsa) KEY_TYPE=ecdsa ;;
        --markdown) MARKDOWN=1 ;;
        --smoke) SMOKE=1 ;;
        --help | -h) usage; exit 0 ;;
        *) echo "bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if ((SMOKE)); then SECONDS_PER_MODE=1 ROUNDS=1 CLIENT_RUNS=5 RSS_AFTER=0; fi

SERVER_03=03-custom-ca-validation/server
SERVER_05=05-production-server/server
CLIENT_04=04-client/client
for program in "$SERVER_03" "$SERVER_05"; do
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

# busy_ticks: CPU time (clock ticks, all CPUs) the machine spent on anything but idling, so far.
busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# children_ticks: CPU time (clock ticks) of this script's children that have ended (the s_time
# clients, awk...), from this shell's /proc entry: counted when a child is waited for.
children_ticks() {
    local stat
    stat=$(<"/proc/$$/stat")
    stat=${stat##*) }
    awk '{ print $14 + $15 }' <<<"$stat"
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

start_03() { start_ours 03 "$SERVER_03" --ca "$CA"; }
start_05() { start_ours 05 "$SERVER_05" --ca "$CA"; }
start_03_base() { start_ours 03-base "$BASELINE/$SERVER_03" --ca "$CA"; }

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
    if ! case $server in 03) start_03 ;; 05) start_05 ;; 03-base) start_03_base ;; s_server) start_s_server ;; nginx) start_nginx ;; esac then
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
    local connections counts pids=() busy_before children_before
    rm -f "$WORK/$server.$mode".*.out
    busy_before=$(busy_ticks) children_before=$(children_ticks)
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
    # What the machine did meanwhile, less this server and our clients: other programs' share.
    OTHER_TICKS=$((OTHER_TICKS + $(busy_ticks) - busy_before - (cpu_after - cpu_before)
                   - ($(children_ticks) - children_before)))
    MEASURED_NS=$((MEASURED_NS + end - start))

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
    SERVED[$server]=$((${SERVED[$server]:-0} + connections))
}

# top_up SERVER: full handshakes until SERVER has served RSS_AFTER connections in all (at most
# 30 more runs of 2 s), then its resident memory, into FINAL_KB and FINAL_SERVED. Not timed.
declare -A SERVED FINAL_KB FINAL_SERVED
top_up() {
    local server=$1 i n
    for ((i = 0; i < 30 && ${SERVED[$server]:-0} < RSS_AFTER; i++)); do
        timeout 40 openssl s_time -connect "127.0.0.1:${PORT_OF[$server]}" -cert "$CLIENT_CERT" \
            -key "$CLIENT_KEY" -CAfile "$CA" -www / -time 2 -new >"$WORK/top-up.out" 2>&1 </dev/null || true
        n=$(awk '/ connections in [0-9.]+s;/ { n += $1 } END { print n + 0 }' "$WORK/top-up.out")
        SERVED[$server]=$((${SERVED[$server]:-0} + n))
        ((n > 0)) || break
    done
    FINAL_KB[$server]=$(memory_kb "${MEASURED_OF[$server]}" VmRSS)
    FINAL_SERVED[$server]=${SERVED[$server]:-0}
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

# ratio_stats A B: A and B are per-round lists (CPUS or RATES of two servers, in round order);
# prints the median, the lowest and the highest of the rounds' ratios A/B, or "n/a n/a n/a".
ratio_stats() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); m = split(b, y, " "); k = 0
        for (i = 1; i <= n && i <= m; i++) if (y[i] + 0 > 0) r[++k] = x[i] / y[i]
        if (k == 0) { print "n/a n/a n/a"; exit }
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
        printf "%.2f %.2f %.2f\n", k % 2 ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2, r[1], r[k] }'
}

# ratio_text A B: the median ratio and, with more than one round, its spread: "0.78 (0.74-0.81)".
ratio_text() {
    local median min max
    read -r median min max <<<"$(ratio_stats "$1" "$2")"
    if [[ $median == n/a || $min == "$max" ]]; then echo "$median"; else echo "$median ($min-$max)"; fi
}

# rss_stats SERVER: the memory SERVER held once it had served RSS_AFTER connections (FINAL_KB),
# against nginx's.
rss_stats() {
    local r
    r=$(ratio "${FINAL_KB[$1]:-}" "${FINAL_KB[nginx]:-}")
    echo "$r $r $r"
}

# The ratios the issue asks for: each a line "what: value (spread)".
print_ratios() {
    local s
    echo "05 vs nginx, CPU per full handshake: $(ratio_text "${CPUS[05 new]:-}" "${CPUS[nginx new]:-}"); rate: $(ratio_text "${RATES[05 new]:-}" "${RATES[nginx new]:-}")"
    echo "05 vs nginx, CPU per resumed handshake: $(ratio_text "${CPUS[05 reuse]:-}" "${CPUS[nginx reuse]:-}"); rate: $(ratio_text "${RATES[05 reuse]:-}" "${RATES[nginx reuse]:-}")"
    echo "05 vs 03 (what the production pool and settings buy), CPU per full handshake: $(ratio_text "${CPUS[05 new]:-}" "${CPUS[03 new]:-}"); per resumed: $(ratio_text "${CPUS[05 reuse]:-}" "${CPUS[03 reuse]:-}")"
    echo "05 vs nginx, memory (RSS) after $(mib "${FINAL_KB[05]:-}") MiB and $(mib "${FINAL_KB[nginx]:-}") MiB, after ${FINAL_SERVED[05]:-?} and ${FINAL_SERVED[nginx]:-?} connections: $(ratio "${FINAL_KB[05]:-}" "${FINAL_KB[nginx]:-}")"
    echo "03 vs nginx, CPU per full handshake: $(ratio_text "${CPUS[03 new]:-}" "${CPUS[nginx new]:-}"); rate: $(ratio_text "${RATES[03 new]:-}" "${RATES[nginx new]:-}")"
    echo "03 vs nginx, CPU per resumed handshake: $(ratio_text "${CPUS[03 reuse]:-}" "${CPUS[nginx reuse]:-}"); rate: $(ratio_text "${RATES[03 reuse]:-}" "${RATES[nginx reuse]:-}")"
    if [[ -n $BASELINE ]]; then
        echo "03 vs 03-base ($BASELINE), CPU per full handshake: $(ratio_text "${CPUS[03 new]:-}" "${CPUS[03-base new]:-}"); rate: $(ratio_text "${RATES[03 new]:-}" "${RATES[03-base new]:-}")"
        echo "03 vs 03-base, CPU per resumed handshake: $(ratio_text "${CPUS[03 reuse]:-}" "${CPUS[03-base reuse]:-}"); rate: $(ratio_text "${RATES[03 reuse]:-}" "${RATES[03-base reuse]:-}"); memory (RSS) after: $(ratio "${FINAL_KB[03]:-}" "${FINAL_KB[03-base]:-}")"
    fi
    echo "03 vs s_server, CPU per full handshake: $(ratio_text "${CPUS[03 new]:-}" "${CPUS[s_server new]:-}"); rate: $(ratio_text "${RATES[03 new]:-}" "${RATES[s_server new]:-}")"
    echo "03 vs nginx, memory (RSS) after $(mib "${FINAL_KB[03]:-}") MiB and $(mib "${FINAL_KB[nginx]:-}") MiB, after ${FINAL_SERVED[03]:-?} and ${FINAL_SERVED[nginx]:-?} connections: $(ratio "${FINAL_KB[03]:-}" "${FINAL_KB[nginx]:-}")"
    for s in "${SERVERS[@]}"; do
        echo "$s resumed vs full: CPU per connection $(ratio "${CPU_MS[$s reuse]}" "${CPU_MS[$s new]}"), rate $(ratio "${RATE[$s reuse]}" "${RATE[$s new]}")"
    done
    echo "04 client vs curl, wall time of one mTLS GET to 03: ${CLIENT_MS[client]} ms vs ${CLIENT_MS[curl]} ms = $(ratio "${CLIENT_MS[client]}" "${CLIENT_MS[curl]}")"
}

# target NAME STATS OP LIMIT: one line, "pass" or "miss", judged on the median of STATS ("median
# min max"); a spread that reaches the other side of LIMIT is said, since it weakens the verdict.
target() {
    local name=$1 op=$3 limit=$4 median min max verdict
    read -r median min max <<<"$2"
    if [[ $median == n/a ]]; then
        verdict='not measured'
    elif awk -v m="$median" -v l="$limit" -v op="$op" 'BEGIN { exit !(op == "<=" ? m <= l : m >= l) }'; then
        verdict=pass
        if ! awk -v lo="$min" -v hi="$max" -v l="$limit" -v op="$op" 'BEGIN { exit !(op == "<=" ? hi <= l : lo >= l) }'; then
            verdict='pass, but not in every round'
        fi
    else
        verdict=miss
    fi
    if [[ $min == "$max" ]]; then
        echo "target: $name $op $limit: $verdict ($median)"
    else
        echo "target: $name $op $limit: $verdict (median $median, rounds $min-$max)"
    fi
}

# The targets: 05, the production server, against nginx; 03, the lesson, within nginx's CPU.
print_targets() {
    local after
    after=$( ((RSS_AFTER > 0)) && echo "$RSS_AFTER connections" || echo "the run")
    target "05/nginx CPU per full handshake" "$(ratio_stats "${CPUS[05 new]:-}" "${CPUS[nginx new]:-}")" '<=' 0.8
    target "05/nginx CPU per resumed handshake" "$(ratio_stats "${CPUS[05 reuse]:-}" "${CPUS[nginx reuse]:-}")" '<=' 0.6
    target "05/nginx full handshakes per second" "$(ratio_stats "${RATES[05 new]:-}" "${RATES[nginx new]:-}")" '>=' 1.5
    target "05/nginx resumed handshakes per second" "$(ratio_stats "${RATES[05 reuse]:-}" "${RATES[nginx reuse]:-}")" '>=' 1.5
    target "05/nginx RSS after $after" "$(rss_stats 05)" '<=' 0.7
    target "03/nginx CPU per full handshake" "$(ratio_stats "${CPUS[03 new]:-}" "${CPUS[nginx new]:-}")" '<=' 1.0
}

# other_share: the percentage of the machine's CPU time (all CPUs) that programs other than the
# servers and our clients took while the servers were measured, or n/a.
other_share() {
    awk -v t="$OTHER_TICKS" -v ns="$MEASURED_NS" -v hz="$CLK_TCK" -v n="$(nproc)" 'BEGIN {
        if (ns == 0) { print "n/a"; exit }
        share = 100 * t / hz / (ns / 1e9) / n
        printf "%.0f\n", share < 0 ? 0 : share }'
}

machine_line() {
    local cpu nginx_version
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    nginx_version=$([[ -n $NGINX ]] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo "nginx not installed")
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs (${cpu:-unknown CPU}), $(openssl version | cut -d' ' -f1-2)," \
         "${nginx_version}; $KEY_LABEL certificates, $CLIENTS s_time clients, ${SECONDS_PER_MODE} s per mode," \
         "$([[ $ROUNDS == 1 ]] && echo "1 round" || echo "median of $ROUNDS rounds"); load average $LOAD_BEFORE before and" \
         "$LOAD_AFTER after (1 min, $(nproc) CPUs; the run's own clients and server add about 3)," \
         "other programs $(other_share)% of the CPU time while the servers were measured"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

SERVERS=() NOTES=() OTHER_TICKS=0 MEASURED_NS=0
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $LOAD_BEFORE (1 min) on $(nproc) CPUs before the run" >&2
echo "bench.sh: making certificates ..." >&2
make_certs
for server in 05 03 ${BASELINE:+03-base} s_server nginx; do start_server "$server"; done
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in new reuse; do
        echo "bench.sh: round $round of $ROUNDS, s_time -$mode, ${SECONDS_PER_MODE} s against each of: ${SERVERS[*]}" >&2
        for server in "${SERVERS[@]}"; do measure_load "$server" "$mode"; done
    done
done
summarize
if ((RSS_AFTER > 0)); then echo "bench.sh: each server up to $RSS_AFTER connections, for its memory ..." >&2; fi
for server in "${SERVERS[@]}"; do top_up "$server"; done
compare_clients
stop_started
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
echo "bench.sh: load average $LOAD_AFTER (1 min) on $(nproc) CPUs after the run" >&2

echo
echo "mTLS GET / with $KEY_LABEL certificates: full handshakes (s_time -new), then resumed (-reuse)"
machine_line
echo
print_plain
echo
print_ratios
echo
print_targets
for server in "${SERVERS[@]}"; do
    resumed=${REUSED[$server reuse]%\%}
    if [[ $resumed =~ ^[0-9]+$ ]] && ((resumed < 90)); then
        NOTES+=("$server resumed only $resumed% of its -reuse connections: its 'resumed' row is mostly full handshakes.")
    fi
done
BUSY=''
if awk -v l="$LOAD_BEFORE" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    BUSY="the load average was $LOAD_BEFORE before the run, above half of the $(nproc) CPUs"
fi
if awk -v s="$(other_share)" 'BEGIN { exit !(s != "n/a" && s > 10) }'; then
    BUSY="${BUSY:+$BUSY, and }other programs took $(other_share)% of the CPU time while the servers were measured"
fi
for note in "${NOTES[@]}"; do echo "note: $note"; done
if [[ -n $BUSY ]]; then
    echo "WARNING: a busy machine: $BUSY. The figures are noisy; measure again on an idle machine."
fi
if ((MARKDOWN)); then
    echo
    echo "Measured $(machine_line)."
    if [[ -n $BUSY ]]; then echo; echo "**Warning: a busy machine: $BUSY. The figures are noisy.**"; fi
    echo
    print_markdown
    echo
    print_ratios | sed 's/^/- /'
    echo
    print_targets | sed 's/^/- /'
fi

# Every server must have served connections in both modes, or the benchmark measured nothing.
for server in "${SERVERS[@]}"; do
    for mode in new reuse; do
        if [[ ${CONNS[$server $mode]} == 0 ]]; then exit 1; fi
    done
done
if ((${#SERVERS[@]} < 2)); then exit 1; fi
exit 0
