#!/usr/bin/env bash
# scripts/valgrind.sh  (make valgrind): runs each chapter program under valgrind's memcheck through
# a short scenario, and fails unless memcheck reports 0 errors, 0 bytes definitely lost, and no file
# descriptor left open at exit (other than those inherited).
#
# Each server: started under memcheck on a free port, then good requests, 404, 405, 400, 431, plain
# HTTP, garbage, a connection closed without a word, malformed heads over TLS (NUL byte, bare LF,
# a header without a colon), and what its chapter adds (no client certificate; another CA's
# client: 403; a revoked one: 403); then SIGTERM, which must end it with status 0.
# The client: runs under memcheck against servers built alike: 200, 403, HEAD, no certificate, a
# server certificate from another CA, nothing listening, a bad URL. Each run must exit with the
# status that case calls for.
#
# The programs are built with -g -O1 into build/valgrind/; certificates come from
# scripts/gen-certs.sh in a temporary directory. Only 127.0.0.1 is used, every wait is bounded,
# and everything started is stopped by PID.
set -euo pipefail
# shellcheck source=scripts/hardening-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/hardening-lib.sh"
# tests/lib.sh: free_port, start_server, stop_server, curl_get and the certificate fixtures. Its
# functions expect errexit off, so every call to them below sits in an `if` or before `||`.
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

need_tool valgrind
need_tool curl
need_tool openssl
need_tool python3
build_dir=$ROOT/build/valgrind
# Memcheck is slow: a handshake takes ~50 times as long as natively.
MEMCHECK=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
          --error-exitcode=99 --track-fds=yes --num-callers=30)
START_SECONDS=60
STOP_TIMEOUT=30
RUN_TIMEOUT=120

on_exit() {
    cleanup_test
}

for program in "${PROGRAMS[@]}"; do
    note "building build/valgrind/$program"
    build_program cc "$build_dir" "$program" -g -O1 -Wall -Wextra
done
LIB_TMP=$SCRATCH
if ! make_test_certs; then die "cannot make the test certificates"; fi
note "certificates made with scripts/gen-certs.sh"

failures=0 results=()

# mismatch TEXT: records one failed expectation of the current program.
mismatch() {
    echo "  FAILED: $1"
    failures=$((failures + 1))
    program_failures=$((program_failures + 1))
}

# memcheck_verdict PROGRAM LOG EXIT_STATUS WANTED_STATUS: checks the end of a memcheck log and
# records one result line for PROGRAM.
memcheck_verdict() {
    local program=$1 log=$2 status=$3 wanted=$4 errors lost fds in_use
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n 1)
    if grep -q 'All heap blocks were freed' "$log"; then
        lost=0
    else
        lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1)
    fi
    # A descriptor memcheck lists without "<inherited from parent>" was opened and never closed.
    fds=$(awk '/Open .*(file descriptor|socket) [0-9]+/ { pending = $0; next }
               pending != "" { if ($0 !~ /inherited from parent/) leaked++; pending = "" }
               END { print leaked + 0 }' "$log")
    [[ $status == "$wanted" ]] || mismatch "$program exited with status $status, not $wanted"
    [[ $errors == 0 ]] || mismatch "$program: memcheck found ${errors:-?} errors"
    [[ $lost == 0 ]] || mismatch "$program: ${lost:-?} bytes definitely lost"
    [[ $fds == 0 ]] || mismatch "$program: $fds file descriptors left open at exit"
    if [[ $errors != 0 || $lost != 0 || $fds != 0 || $status != "$wanted" ]]; then
        echo "  --- memcheck log:"
        sed 's/^/  /' "$log"
    fi
    in_use=$(grep -o 'in use at exit: .*' "$log" | tail -n 1)
    results+=("$program: exit $status; ERROR SUMMARY: ${errors:-?} errors;\
 definitely lost: ${lost:-?} bytes; $in_use")
}

# start_memcheck_server PROGRAM ARGS...: starts build/valgrind/PROGRAM under memcheck on a port of
# its choosing (--port 0) and waits for its `Listening on` line. Sets SERVER_PID, SERVER_PORT,
# SERVER_LOG (its output) and MEMCHECK_LOG.
start_memcheck_server() {
    local program=$1 i
    shift
    SERVER_LOG=$SCRATCH/${program//\//-}.out
    MEMCHECK_LOG=$SCRATCH/${program//\//-}.memcheck
    SERVER_PORT=''
    (cd "$ROOT" && exec "${MEMCHECK[@]}" --log-file="$MEMCHECK_LOG" "$build_dir/$program" \
        --port 0 --max-connections 4 "$@") >"$SERVER_LOG" 2>&1 </dev/null &
    SERVER_PID=$!
    LIB_SERVER_PIDS+=("$SERVER_PID")
    for ((i = 0; i < START_SECONDS * 5; i++)); do
        SERVER_PORT=$(sed -n 's|^Listening on https://localhost:\([0-9][0-9]*\)$|\1|p' \
                      "$SERVER_LOG")
        [[ -z $SERVER_PORT ]] || return 0
        process_running "$SERVER_PID" || break
        sleep 0.2
    done
    mismatch "$program did not start under memcheck: $(cat "$SERVER_LOG" "$MEMCHECK_LOG")"
    return 1
}

# expect STATUS WHAT [CURL ARGS...] PATH_OR_URL: one curl request; STATUS 000 means no HTTP answer.
expect() {
    local wanted=$1 what=$2
    shift 2
    curl_get "${@: -1}" "${@:1:$#-1}" || true
    if [[ $CURL_STATUS == "$wanted" ]]; then
        echo "  ok: $what: $CURL_STATUS"
    else
        mismatch "$what: HTTP status $CURL_STATUS (curl exit $CURL_EXIT), expected $wanted"
        echo "  curl said: ${CURL_ERROR:-nothing}"
    fi
}

# expect_raw STATUS WHAT DATA [OPENSSL S_CLIENT ARGS...]: sends DATA (printf %b escapes) over TLS as
# the request head, bypassing curl's own checks, and expects the status line to carry STATUS.
expect_raw() {
    local wanted=$1 what=$2 data=$3 answer
    shift 3
    answer=$(printf '%b' "$data" | timeout -k 2 30 openssl s_client -quiet -verify_return_error \
        -connect "127.0.0.1:$SERVER_PORT" -servername localhost -CAfile "$CERTS/ca.crt" "$@" \
        2>/dev/null | head -n 1 | tr -d '\r') || true
    if [[ $answer == "HTTP/1.1 $wanted "* ]]; then
        echo "  ok: $what: $answer"
    else
        mismatch "$what: got '$answer', expected HTTP/1.1 $wanted"
    fi
}

# expect_log PATTERN WHAT: the server logged a line matching PATTERN (within 10 s).
expect_log() {
    if wait_for_log "$1" 10; then
        echo "  ok: $2: logged"
    else
        mismatch "$2: no log line matches /$1/"
    fi
}

# send_plain DATA: sends DATA (printf %b escapes) over plain TCP, then reads until the server
# closes the connection.
send_plain() {
    # shellcheck disable=SC2016  # $1 and $2 are expanded by the inner bash
    timeout -k 2 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%b" "$2" >&3 && cat <&3' \
        _ "$SERVER_PORT" "$1" >/dev/null 2>&1 || true
}

server_scenario() {
    local program=$1 chapter=${1%%-*} id=() huge status=0
    local args=(--cert "$CERTS/server.crt" --key "$CERTS/server.key")
    program_failures=0
    echo "=== $program under memcheck"
    [[ $chapter != 03 && $chapter != 05 ]] || args+=(--ca "$CERTS/ca.crt" --crl "$CERTS/ca.crl")
    start_memcheck_server "$program" "${args[@]}" || return 0
    [[ $chapter == 01 ]] || id=(--cert "$CERTS/client.crt" --key "$CERTS/client.key")
    huge=$(head -c 9000 /dev/zero | tr '\0' a)

    expect 200 "GET /" "${id[@]}" /
    expect 200 "GET /weatherforecast" "${id[@]}" /weatherforecast
    expect 200 "HEAD /" "${id[@]}" --head /
    expect 404 "GET /missing" "${id[@]}" /missing
    expect 405 "POST /" "${id[@]}" -d x /
    expect 400 "request target without /" "${id[@]}" --request-target nope /
    expect 431 "9000-byte header" "${id[@]}" -H "X-Big: $huge" /
    expect 400 "plain HTTP to the TLS port" "http://127.0.0.1:$SERVER_PORT/"
    expect_raw 400 "NUL byte in the request line" 'GET /\0 HTTP/1.1\r\nHost: localhost\r\n\r\n' \
        "${id[@]}"
    expect_raw 400 "header without a colon" \
        'GET / HTTP/1.1\r\nHost: localhost\r\nno colon\r\n\r\n' "${id[@]}"
    expect_raw 200 "bare LF line ends" 'GET / HTTP/1.1\nHost: localhost\n\n' "${id[@]}"
    send_plain '\x16\x03\x01\x00\x05garbage that is not TLS\r\n\r\n'
    expect_log 'handshake failed' "garbage instead of a ClientHello"
    send_plain ''
    if [[ $chapter != 01 ]]; then
        expect 000 "no client certificate" /
        expect 200 "GET /whoami" "${id[@]}" /whoami
    fi
    if [[ $chapter == 03 || $chapter == 05 ]]; then
        expect 403 "client of another CA" --cert "$CERTS/other-client.crt" \
            --key "$CERTS/other-client.key" /
        expect 403 "revoked client" --cert "$CERTS/revoked-client.crt" \
            --key "$CERTS/revoked-client.key" /
    fi

    stop_server "$SERVER_PID" || status=$?
    memcheck_verdict "$program" "$MEMCHECK_LOG" "$status" 0
    if ((program_failures > 0)); then
        echo "  --- server output:"
        sed 's/^/  /' "$SERVER_LOG"
    fi
}

# client_run STATUS WHAT CLIENT ARGS...: runs the client under memcheck; expects exit STATUS.
client_run() {
    local wanted=$1 what=$2 log
    shift 2
    log=$SCRATCH/client.$((${#results[@]} + 1)).memcheck
    run_program "$(command -v valgrind)" "${MEMCHECK[@]:1}" --log-file="$log" \
        "$build_dir/04-client/client" "$@" || true
    echo "  $what: exit $RUN_STATUS: $(grep -v '^$' <<<"$RUN_STDERR" | tail -n 1)"
    memcheck_verdict "04-client/client ($what)" "$log" "$RUN_STATUS" "$wanted"
}

client_scenario() {
    local ca=(--ca "$CERTS/ca.crt") id=(--cert "$CERTS/client.crt" --key "$CERTS/client.key")
    local port
    program_failures=0
    echo "=== 04-client/client under memcheck"
    if has_program 03-custom-ca-validation/server &&
       start_server "$build_dir/03-custom-ca-validation/server"; then
        client_run 0 "GET / with our client certificate" "${ca[@]}" "${id[@]}" \
            "https://localhost:$SERVER_PORT/"
        client_run 1 "another CA's client certificate: 403" "${ca[@]}" \
            --cert "$CERTS/other-client.crt" --key "$CERTS/other-client.key" \
            "https://127.0.0.1:$SERVER_PORT/"
        client_run 0 "HEAD /weatherforecast" "${ca[@]}" "${id[@]}" --method HEAD \
            "https://localhost:$SERVER_PORT/weatherforecast"
        client_run 4 "no client certificate" "${ca[@]}" "https://localhost:$SERVER_PORT/"
        stop_server "$SERVER_PID" || true
    else
        mismatch "cannot start 03-custom-ca-validation/server for the client"
    fi
    if start_server "$build_dir/01-tls-server/server" --cert "$CERTS/other-ca-server.crt" \
                    --key "$CERTS/other-ca-server.key"; then
        client_run 4 "server certificate from another CA" "${ca[@]}" \
            "https://localhost:$SERVER_PORT/"
        stop_server "$SERVER_PID" || true
    else
        mismatch "cannot start 01-tls-server/server for the client"
    fi
    port=$(free_port)
    client_run 3 "nothing listening" "${ca[@]}" "https://127.0.0.1:$port/"
    client_run 2 "bad URL" "${ca[@]}" "https://[::1/"
}

for program in $(servers); do
    server_scenario "$program" || true
done
if has_program 04-client/client; then
    client_scenario || true
fi

echo
note "results:"
printf '  %s\n' "${results[@]}"
((failures == 0)) || die "$failures check(s) failed (see above)"
note "0 errors, 0 bytes definitely lost, no descriptor left open, in every run"
