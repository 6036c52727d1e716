#!/usr/bin/env bash
# scripts/illustrate.sh [--out DIR] [--notes FILE] [--captures DIR] [--certs DIR]: makes the
# Illustrated mTLS Connection (`make illustrate`), docs/illustrated/index.html.
#
# It starts this project's servers on free ports of 127.0.0.1 with SSLKEYLOGFILE set, captures
# each connection on the loopback interface with dumpcap (a capture filter on the server's port),
# and hands the captures and the key log to scripts/illustrate.py, which has tshark decode them and
# writes the page with the notes of scripts/illustrate-notes.txt beside the bytes.
#
#   --out DIR       where to write index.html (default docs/illustrated)
#   --notes FILE    the notes (default scripts/illustrate-notes.txt)
#   --captures DIR  keep the captures, the key log and the programs' output in DIR (default: a
#                   temporary folder, removed at the end); illustrate.py --captures DIR renders
#                   them again without capturing
#   --certs DIR     the certificates (default certs/, made by `make certs`)
#
# The connections: the 04 client against chapter 03 under TLS 1.3 and, capped by an OpenSSL
# configuration file, TLS 1.2; curl without a certificate; another CA's client against exercise 1's
# reference solution (built from its solution.diff, as exercises/check.sh does), which refuses it
# in the handshake, and against chapter 03, which answers 403; curl fetching two URLs, the second
# connection resuming the first one's session.
#
# Capturing needs root or CAP_NET_RAW on dumpcap. Without either, it stops and says how to get it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

out=docs/illustrated notes=scripts/illustrate-notes.txt captures='' certs=certs
while (($# > 0)); do
    case $1 in
        --out) out=$2; shift 2 ;;
        --notes) notes=$2; shift 2 ;;
        --captures) captures=$2; shift 2 ;;
        --certs) certs=$2; shift 2 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "illustrate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

for tool in tshark dumpcap curl openssl patch python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "illustrate.sh: $tool is not installed (Debian: apt-get install tshark curl openssl patch python3)" >&2
        exit 1
    fi
done
for program in 03-custom-ca-validation/server 04-client/client; do
    [[ -x $program ]] || { echo "illustrate.sh: $program is not built; run 'make' first" >&2; exit 1; }
done
for file in ca.crt server.crt server.key client.crt client.key other-client.crt other-client.key; do
    [[ -f $certs/$file ]] || { echo "illustrate.sh: no $certs/$file; run 'make certs' first" >&2; exit 1; }
done
certs=$(cd "$certs" && pwd)

# tests/lib.sh gives the helpers the tests use: free ports, starting a server and waiting for its
# "Listening on" line, stopping every process by its PID, bounded waits.
# shellcheck source=tests/lib.sh
. tests/lib.sh
LIB_TMP=$(mktemp -d)
trap 'cleanup_test; rm -rf "$LIB_TMP"' EXIT
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY SSLKEYLOGFILE
CERTS=$certs
if [[ -z $captures ]]; then captures=$LIB_TMP/captures; fi
rm -rf "$captures"
mkdir -p "$captures"
captures=$(cd "$captures" && pwd)
keylog=$captures/keys.log

# Capturing on lo needs CAP_NET_RAW: find out once, before any server starts, and say what to do.
if ! timeout 10 dumpcap -D >/dev/null 2>&1 || ! timeout 10 dumpcap -i lo -c 1 -a duration:1 \
        -w "$LIB_TMP/probe.pcapng" -q >"$LIB_TMP/probe.log" 2>&1; then
    echo "illustrate.sh: dumpcap cannot capture on the loopback interface here:" >&2
    sed 's/^/  /' "$LIB_TMP/probe.log" >&2 2>/dev/null || true
    cat >&2 <<'EOF'
Capturing needs root or the CAP_NET_RAW capability. Either run `sudo make illustrate`, or give
dumpcap the capability once (Debian: `sudo dpkg-reconfigure wireshark-common`, answer yes, then
`sudo usermod -aG wireshark $USER` and log in again; or `sudo setcap cap_net_raw,cap_net_admin=eip
/usr/bin/dumpcap`). The committed docs/illustrated/index.html needs neither: open it in a browser.
EOF
    exit 1
fi

# The servers, each with the key log: tshark finds every connection's secrets there.
export SSLKEYLOGFILE=$keylog
start_server 03-custom-ca-validation/server
PORT_03=$SERVER_PORT LOG_03=$SERVER_LOG

# Exercise 1's reference solution: chapter 03 with a verify callback that returns OpenSSL's
# verdict, so another CA's certificate ends the handshake with an alert.
EX1_SERVER="exercise 1's reference solution (03-custom-ca-validation/server.c + exercises/01-refuse-in-handshake/solution.diff)"
build_refuse_in_handshake() {
    local cflags libs
    cflags=$(pkg-config --cflags openssl 2>/dev/null || true)
    libs=$(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
    patch -s -o "$LIB_TMP/refuse-in-handshake.c" 03-custom-ca-validation/server.c \
        exercises/01-refuse-in-handshake/solution.diff >"$LIB_TMP/patch.log" 2>&1 || return 1
    # shellcheck disable=SC2086  # the flags are separate words
    cc -O1 -Wall -Wextra $cflags -o "$LIB_TMP/refuse-in-handshake" "$LIB_TMP/refuse-in-handshake.c" \
        $libs -lpthread >"$LIB_TMP/cc.log" 2>&1
}
if build_refuse_in_handshake; then
    start_server "$LIB_TMP/refuse-in-handshake"
    PORT_EX1=$SERVER_PORT LOG_EX1=$SERVER_LOG
    EX1_COMMAND="refuse-in-handshake --port $PORT_EX1 --cert certs/server.crt --key certs/server.key --ca certs/ca.crt   # $EX1_SERVER"
else
    # The solution no longer applies: openssl s_server refuses the same way (-Verify: a client
    # certificate is required; -verify_return_error: a failed check ends the handshake).
    echo "illustrate.sh: exercise 1's solution did not build: $(cat "$LIB_TMP/patch.log" "$LIB_TMP/cc.log" 2>/dev/null | head -n 2 | tr '\n' ' '); using openssl s_server -Verify" >&2
    start_peer @PORT@ openssl s_server -accept @PORT@ -cert "$certs/server.crt" -key "$certs/server.key" \
        -CAfile "$certs/ca.crt" -Verify 1 -verify_return_error -www -keylogfile "$keylog"
    PORT_EX1=$PEER_PORT LOG_EX1=$PEER_LOG
    EX1_COMMAND="openssl s_server -accept $PORT_EX1 -cert server.crt -key server.key -CAfile ca.crt -Verify 1 -verify_return_error -www"
fi
unset SSLKEYLOGFILE

# TLS 1.2 for the 04 client, which has no version flag: OpenSSL's configuration caps it.
use_tls12_openssl_conf

# capture NAME PORT SERVER_LOG SERVER_SHOWN CLIENT_SHOWN COMMAND...: runs COMMAND (a client, at most
# 20 s) while dumpcap captures TCP port PORT on lo into NAME.pcapng; keeps the client's output and
# the lines the server logged meanwhile, and writes NAME.meta for illustrate.py.
capture() {
    local name=$1 port=$2 server_log=$3 server_shown=$4 client_shown=$5 pid i mark status=0
    shift 5
    timeout -k 2 60 dumpcap -q -i lo -f "tcp port $port" -w "$captures/$name.pcapng" \
        >"$LIB_TMP/$name.dumpcap" 2>&1 &
    pid=$!
    LIB_BG_PIDS+=("$pid")
    # dumpcap says "Capturing on 'Loopback: lo'" once it is ready (at most 10 s).
    for ((i = 0; i < 100; i++)); do
        grep -qs 'Capturing on' "$LIB_TMP/$name.dumpcap" && break
        process_running "$pid" || break
        sleep 0.1
    done
    if ! grep -qs 'Capturing on' "$LIB_TMP/$name.dumpcap"; then
        echo "illustrate.sh: dumpcap did not start: $(cat "$LIB_TMP/$name.dumpcap")" >&2
        exit 1
    fi
    mark=$(wc -c <"$server_log")
    timeout -k 2 20 "$@" >"$captures/$name.client-out" 2>"$captures/$name.client-err" </dev/null || status=$?
    echo "(exit status $status)" >>"$captures/$name.client-err"
    # The server logs a connection when its worker is done with it; wait for that line (at most
    # 5 s), then give the last packets time to reach dumpcap before it stops.
    for ((i = 0; i < 50; i++)); do
        tail -c "+$((mark + 1))" "$server_log" | grep -Eq '" [0-9]{3}$|handshake failed|refusing|ERROR|error' && break
        sleep 0.1
    done
    sleep 0.5
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    tail -c "+$((mark + 1))" "$server_log" | grep -v 'SSLKEYLOGFILE' >"$captures/$name.server-log" || true
    printf 'server_port=%s\nserver=%s\nclient=%s\n' "$port" "$server_shown" "$client_shown" >"$captures/$name.meta"
    echo "illustrate.sh: captured $name, the client's $(tail -n 1 "$captures/$name.client-err" | tr -d "()")"
}

SERVER_03_SHOWN="03-custom-ca-validation/server --port $PORT_03 --cert certs/server.crt --key certs/server.key --ca certs/ca.crt"
CLIENT_FLAGS=(--ca "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key")
CURL=(curl -q -sS --noproxy '*' --max-time 15 --cacert "$certs/ca.crt")

capture tls13 "$PORT_03" "$LOG_03" "$SERVER_03_SHOWN" \
    "04-client/client --ca certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:$PORT_03/whoami" \
    04-client/client "${CLIENT_FLAGS[@]}" "https://localhost:$PORT_03/whoami"

capture tls12 "$PORT_03" "$LOG_03" "$SERVER_03_SHOWN" \
    "OPENSSL_CONF=max-tls12.cnf 04-client/client --ca certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:$PORT_03/whoami" \
    env OPENSSL_CONF="$TLS12_OPENSSL_CONF" 04-client/client "${CLIENT_FLAGS[@]}" "https://localhost:$PORT_03/whoami"

capture no-cert "$PORT_03" "$LOG_03" "$SERVER_03_SHOWN" \
    "curl --cacert certs/ca.crt https://localhost:$PORT_03/" \
    "${CURL[@]}" "https://localhost:$PORT_03/"

capture unknown-ca "$PORT_EX1" "$LOG_EX1" "$EX1_COMMAND" \
    "curl --cacert certs/ca.crt --cert certs/other-client.crt --key certs/other-client.key https://localhost:$PORT_EX1/" \
    "${CURL[@]}" --cert "$certs/other-client.crt" --key "$certs/other-client.key" "https://localhost:$PORT_EX1/"

capture other-ca-403 "$PORT_03" "$LOG_03" "$SERVER_03_SHOWN" \
    "curl -i --cacert certs/ca.crt --cert certs/other-client.crt --key certs/other-client.key https://localhost:$PORT_03/" \
    "${CURL[@]}" -i --cert "$certs/other-client.crt" --key "$certs/other-client.key" "https://localhost:$PORT_03/"

# Two URLs in one curl: the server closes each connection after its answer, so the second request
# opens a new connection, and curl offers the session (the ticket) the first one received.
capture resumption "$PORT_03" "$LOG_03" "$SERVER_03_SHOWN" \
    "curl --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:$PORT_03/ https://localhost:$PORT_03/whoami" \
    "${CURL[@]}" --cert "$certs/client.crt" --key "$certs/client.key" \
    "https://localhost:$PORT_03/" "https://localhost:$PORT_03/whoami"

cleanup_test
printf '%s; %s; %s; made on %s\n' "$(openssl version | cut -d' ' -f1-2)" "$(tshark --version 2>/dev/null | head -n 1 | cut -d' ' -f1-3)" \
    "$(curl --version | head -n 1 | cut -d' ' -f1-2)" "$(date -u +%Y-%m-%d)" >"$captures/versions"

python3 scripts/illustrate.py --captures "$captures" --notes "$notes" --out "$out"

# A picture of the top of the page, for the READMEs, when Chromium is installed: headless, no
# network, a throw-away profile.
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -n $browser ]]; then
    if timeout -k 5 60 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
            --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
            --user-data-dir="$LIB_TMP/browser" --window-size=1200,2200 \
            --screenshot="$out/screenshot.png" "file://$(cd "$out" && pwd)/index.html" \
            >"$LIB_TMP/browser.log" 2>&1; then
        echo "illustrate.sh: wrote $out/screenshot.png"
    else
        echo "illustrate.sh: no screenshot ($browser failed: $(tail -n 1 "$LIB_TMP/browser.log"))" >&2
    fi
fi
