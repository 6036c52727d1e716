# shellcheck shell=bash disable=SC2034  # (the variables set here are read by the suites)
# tests/lib.sh: helpers shared by every shunit2 suite (and by scripts/demo.sh).
#
# A suite looks like this:
#
#   . "$(dirname "$0")/lib.sh"
#   SERVER=$(program_path 01-tls-server/server)
#   oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }
#   test_hello() {
#     start_server "$SERVER" || return
#     curl_get /
#     assert_curl 200 'Hello World!'
#     assert_log '"GET / HTTP/1.1" 200'
#   }
#   . "$SHUNIT2"
#
# The helpers also work under `set -euo pipefail` (scripts/demo.sh uses them).
#
# Rules kept here so that suites do not have to repeat them: programs run from the repository root;
# only 127.0.0.1 and ::1 are used; ports come from free_port; everything started is stopped by PID
# (tearDown calls cleanup_test); every wait is bounded in count and time; every external command that
# could hang runs under `timeout`. Temporary files live in shunit2's SHUNIT_TMPDIR, which shunit2
# removes on exit (also on Ctrl-C).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shunit2 itself: $SHUNIT2 if set, else the Debian/Homebrew locations, else whatever is on PATH.
if [[ -z ${SHUNIT2:-} ]]; then
    for _lib_candidate in /usr/bin/shunit2 /usr/share/shunit2/shunit2 /opt/homebrew/bin/shunit2 \
                          /usr/local/bin/shunit2 "$(command -v shunit2 2>/dev/null || true)"; do
        if [[ -n $_lib_candidate && -r $_lib_candidate ]]; then SHUNIT2=$_lib_candidate; break; fi
    done
    unset _lib_candidate
fi
SHUNIT2=${SHUNIT2:-shunit2-not-found}

# python3 (free_port and the TLS helpers below run it often): a version manager's shim on PATH
# (pyenv, asdf) can cost a second per call, so the real interpreter's directory goes first on PATH.
if _lib_python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [[ $_lib_python == /* ]]; then
    PATH=${_lib_python%/*}:$PATH
fi
unset _lib_python

LIB_TMP=${LIB_TMP:-}          # scratch directory (SHUNIT_TMPDIR once shunit2 runs)
CERTS=${CERTS:-}              # certificate directory made by make_test_certs
SERVER_PID='' SERVER_PORT='' SERVER_LOG=''
PEER_PID='' PEER_LOG='' PEER_PORT='' # the last program start_peer started
LIB_SERVER_PIDS=()            # every server started, stopped by cleanup_test
LIB_BG_PIDS=()                # helper processes (idle TLS clients, peers), stopped by cleanup_test
LIB_IDLE_FDS=()               # idle TCP connections held by this shell
LIB_COUNTER=0                 # makes scratch file names unique
LIB_SHARED_SERVERS=()         # servers kept across tests: "NAME<tab>PID<tab>PORT<tab>LOG"
LOG_MARK=0                    # wait_for_log and assert_log read SERVER_LOG from this byte on

# ---------------------------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------------------------

# Reports a failure through shunit2 when running under it, else on stderr.
_lib_fail() {
    if declare -F fail >/dev/null; then fail "$1"; else echo "FAIL: $1" >&2; fi
}

_lib_need_tmp() {
    if [[ -z $LIB_TMP ]]; then LIB_TMP=${SHUNIT_TMPDIR:-$(mktemp -d)}; fi
}

# _lib_scratch NAME: sets LIB_SCRATCH to a fresh file name in the scratch directory. (Not meant
# for $(...): the counter must survive.)
_lib_scratch() {
    _lib_need_tmp
    LIB_COUNTER=$((LIB_COUNTER + 1))
    LIB_SCRATCH=$LIB_TMP/$1.$LIB_COUNTER
}

# _lib_slurp VAR FILE: sets VAR to the exact content of FILE, trailing newlines included (a plain
# VAR=$(cat FILE) drops them, and a body of "Hello World!\n" must not pass for "Hello World!").
_lib_slurp() {
    local content
    content=$(cat "$2" 2>/dev/null; echo x)
    printf -v "$1" '%s' "${content%x}"
}

# has_flag FLAG ARGS...: true when ARGS contain FLAG (as `FLAG VALUE` or `FLAG=VALUE`).
has_flag() {
    local flag=$1 arg
    shift
    for arg in "$@"; do
        if [[ $arg == "$flag" || $arg == "$flag="* ]]; then return 0; fi
    done
    return 1
}

# re_escape TEXT: prints TEXT with extended-regex metacharacters escaped (for file names in
# patterns given to assert_log, assert_run and assert_output_has).
re_escape() {
    # shellcheck disable=SC2016  # $ is a character to escape here, not an expansion
    printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'
}

# process_running PID: true while PID exists and is not a zombie.
process_running() {
    local state
    if [[ -r /proc/$1/stat ]]; then
        state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
        [[ $state != Z && $state != X ]]
    elif [[ -d /proc/self ]]; then
        return 1
    else
        state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
        [[ -n $state && $state != Z* ]]
    fi
}

# free_port: prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# have_ipv6: true when ::1 can be bound (some containers have no IPv6).
have_ipv6() {
    python3 -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))' 2>/dev/null
}

# skip_test REASON: marks the current test as skipped (shunit2 counts one skipped assert);
# follow it with `return`.
skip_test() {
    echo "SKIPPED: $1"
    startSkipping
    fail "$1"
}

# require_peer COMMAND WHAT_FOR: true when COMMAND (a program that is not ours and that the README
# calls optional: nginx, gnutls-cli, tshark...; a name on PATH or a path) is installed. When it is
# not, the test is skipped with a message naming COMMAND and WHAT_FOR, and require_peer returns 1:
# the caller then ends the test with status 0, as shunit2 counts a non-zero return as a failure:
#   require_peer tshark 'decrypting a capture with the key log' || return 0
# With REQUIRE_PEERS=1 (.ci/run sets it: CI installs every peer) a missing peer fails the test.
require_peer() {
    command -v "$1" >/dev/null 2>&1 && return 0
    missing_peer "$1" "$2"
    return 1
}

# missing_peer WHAT WHY: WHAT (a tool, or a library such as Python's requests) is not installed:
# the test is skipped, or fails under REQUIRE_PEERS=1. The caller returns right after.
missing_peer() {
    if [[ ${REQUIRE_PEERS:-0} == 1 ]]; then
        _lib_fail "$1 is not installed, and REQUIRE_PEERS=1 says it must be ($2)"
    else
        skip_test "$1 is not installed; skipping $2"
    fi
}

# program_path PATH: prints where to find a chapter program, e.g. `program_path 01-tls-server/server`:
# under $BUILD_DIR when set (another build of the same tree, e.g. with sanitizers), else ROOT.
program_path() {
    printf '%s/%s' "${BUILD_DIR:-$ROOT}" "$1"
}

# use_every_chapter: for the suites that try every server: CHAPTERS (01 02 03), PROGRAM[N] (where
# chapter N's server is, see program_path) and NORMAL_CLIENT[N] (the certificate a normal client of
# chapter N presents: none for chapter 01).
use_every_chapter() {
    CHAPTERS=(01 02 03)
    declare -gA PROGRAM=(
        [01]=$(program_path 01-tls-server/server)
        [02]=$(program_path 02-mtls-server/server)
        [03]=$(program_path 03-custom-ca-validation/server)
    )
    declare -gA NORMAL_CLIENT=([01]='' [02]=client [03]=client)
}

# require_every_chapter: fails (for oneTimeSetUp) when one of the PROGRAMs has not been built.
require_every_chapter() {
    local chapter
    for chapter in "${CHAPTERS[@]}"; do require_program "${PROGRAM[$chapter]}" || return 1; done
}

# require_program PATH: fails (for oneTimeSetUp) when a chapter program has not been built.
require_program() {
    if [[ ! -x $ROOT/$1 && ! -x $1 ]]; then
        echo "$1 is not built; run 'make' first" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------

# make_test_certs: runs scripts/gen-certs.sh into a temporary directory and sets CERTS to it.
# tests/run.sh makes the certificates once and exports TEST_CERTS_CACHE; each suite then gets its
# own copy (so a suite may change its files without disturbing the others).
make_test_certs() {
    local log
    _lib_need_tmp
    CERTS=$LIB_TMP/certs
    if [[ -n ${TEST_CERTS_CACHE:-} && -f $TEST_CERTS_CACHE/ca.crt ]]; then
        mkdir -p "$CERTS" && cp -p "$TEST_CERTS_CACHE"/* "$CERTS"/ && return 0
    fi
    _lib_scratch gen-certs.log; log=$LIB_SCRATCH
    if ! timeout 120 "$ROOT/scripts/gen-certs.sh" "$CERTS" >"$log" 2>&1; then
        echo "scripts/gen-certs.sh $CERTS failed:" >&2
        cat "$log" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Running programs
# ---------------------------------------------------------------------------------------------

# run_program [--in DIR] PROGRAM ARGS...: runs PROGRAM (relative to the repository root, or
# absolute) in the foreground from ROOT (or DIR), stdin empty, at most RUN_TIMEOUT seconds
# (default 10). Sets RUN_STATUS (124 means it had to be killed), RUN_STDOUT, RUN_STDERR.
run_program() {
    local dir=$ROOT program out err
    if [[ $1 == --in ]]; then dir=$2; shift 2; fi
    program=$1
    shift
    [[ $program == /* ]] || program=$ROOT/$program
    _lib_scratch run.out; out=$LIB_SCRATCH
    _lib_scratch run.err; err=$LIB_SCRATCH
    RUN_STATUS=0
    (cd "$dir" && exec timeout -k 2 "${RUN_TIMEOUT:-10}" "$program" "$@") >"$out" 2>"$err" </dev/null ||
        RUN_STATUS=$?
    _lib_slurp RUN_STDOUT "$out"
    _lib_slurp RUN_STDERR "$err"
}

# assert_run STATUS [PATTERN...]: asserts the last run_program exited with STATUS (and did not
# hang) and that its stderr matches every PATTERN (extended regex, case-insensitive).
assert_run() {
    local wanted=$1 pattern
    shift
    if [[ $RUN_STATUS == 124 || $RUN_STATUS == 137 ]]; then
        _lib_fail "the program hung (killed after ${RUN_TIMEOUT:-10} s); stdout: $RUN_STDOUT stderr: $RUN_STDERR"
        return 1
    fi
    assertEquals "exit status (stderr: $RUN_STDERR)" "$wanted" "$RUN_STATUS" || return 1
    for pattern in "$@"; do
        assert_output_has "$RUN_STDERR" "$pattern" "stderr" || return 1
    done
}

# _lib_supports_flag PROGRAM FLAG: true when PROGRAM's --help mentions FLAG (as a whole word:
# --ca is not --cache).
_lib_supports_flag() {
    local help word='(^|[^-[:alnum:]])'"$2"'([^-[:alnum:]]|$)'
    help=$(cd "$ROOT" && timeout 5 "$1" --help 2>&1) || true
    [[ $help =~ $word ]]
}

# _lib_wait_until_listening: waits (START_TIMEOUT seconds, default 20) for SERVER_PID to log
# "Listening on ...:PORT" in SERVER_LOG and sets SERVER_PORT; fails when it exits or never does.
_lib_wait_until_listening() {
    local i
    for ((i = 0; i < ${START_TIMEOUT:-20} * 10; i++)); do
        SERVER_PORT=$(sed -n 's/.*Listening on .*:\([0-9][0-9]*\).*/\1/p' "$SERVER_LOG" | head -n 1)
        if [[ -n $SERVER_PORT ]]; then return 0; fi
        process_running "$SERVER_PID" || return 1
        sleep 0.1
    done
    return 1
}

# argv_recorder DIR: DIR/openssl, which writes each of its arguments on a line of $ARGV_LOG, then
# runs the real openssl. With DIR first on PATH it shows what `ps` would show of every openssl run.
argv_recorder() {
    local real
    real=$(command -v openssl) || return 1
    mkdir -p "$1" &&
        printf '%s\n' '#!/bin/sh' 'printf "%s\n" "$@" >>"$ARGV_LOG"' "exec '$real' \"\$@\"" >"$1/openssl" &&
        chmod +x "$1/openssl"
}

# start_server PROGRAM ARGS...: starts a chapter server in the background from ROOT, stdout and
# stderr to SERVER_LOG, and waits (at most START_TIMEOUT seconds, default 20: a sanitizer build on
# a busy machine can take several) for its `Listening on` line. Adds `--port <free>`,
# `--cert $CERTS/server.crt`, `--key $CERTS/server.key` (and `--ca $CERTS/ca.crt` for programs
# whose --help lists --ca) unless ARGS already hold that flag. Sets SERVER_PID, SERVER_PORT (read
# from the Listening line) and SERVER_LOG. On failure calls shunit2's fail with the log and
# returns 1, so a test writes `start_server "$SERVER" --bind ::1 || return`.
start_server() {
    local program=$1 i args
    shift
    _lib_need_tmp
    if ! require_program "$program" 2>/dev/null; then
        _lib_fail "start_server: $program is not built; run 'make' first"
        return 1
    fi
    args=("$@")
    has_flag --cert "$@" || args+=(--cert "$CERTS/server.crt")
    has_flag --key "$@" || args+=(--key "$CERTS/server.key")
    if ! has_flag --ca "$@" && _lib_supports_flag "$program" '--ca'; then
        args+=(--ca "$CERTS/ca.crt")
    fi
    # free_port can race with another process taking the port: try a new port up to 3 times.
    for _ in 1 2 3; do
        local run_args=("${args[@]}")
        has_flag --port "$@" || run_args+=(--port "$(free_port)")
        _lib_scratch server.log; SERVER_LOG=$LIB_SCRATCH; : >"$SERVER_LOG"
        SERVER_PORT='' LOG_MARK=0
        # A subshell that execs keeps SIGINT at its default (bash ignores it for `cmd &`).
        (cd "$ROOT" && exec "$program" "${run_args[@]}") >"$SERVER_LOG" 2>&1 </dev/null &
        SERVER_PID=$!
        LIB_SERVER_PIDS+=("$SERVER_PID")
        _lib_wait_until_listening && return 0
        if process_running "$SERVER_PID" || has_flag --port "$@" ||
           ! grep -qi 'in use' "$SERVER_LOG"; then
            break
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    done
    _lib_fail "start_server: '$program ${run_args[*]}' did not print 'Listening on'; its output:
$(cat "$SERVER_LOG")"
    stop_server >/dev/null || true
    return 1
}

# stop_server [-SIGNAL] [PID]: sends SIGTERM (or -INT, -HUP...) to PID (default SERVER_PID), waits
# at most STOP_TIMEOUT seconds (default 30: a sanitizer build runs LeakSanitizer as it exits, which
# takes a while on a busy machine) for it to exit, then SIGKILLs it and says so on stderr. Returns
# its exit status (137 when it had to be killed).
stop_server() {
    local signal=TERM pid
    if [[ ${1:-} == -* ]]; then signal=${1#-}; shift; fi
    pid=${1:-$SERVER_PID}
    [[ -n $pid ]] || return 0
    kill "-$signal" "$pid" 2>/dev/null || true
    if ! _lib_wait_for_exit "${STOP_TIMEOUT:-30}" "$pid"; then
        echo "stop_server: $pid still running ${STOP_TIMEOUT:-30} s after SIG$signal; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null
}

# assert_stops_with_status_0 [-SIGNAL]: stops the current server with SIGTERM (or SIGNAL) and
# asserts that it exited by itself with status 0, saying which signal stopped it.
# shellcheck disable=SC2120  # SIGNAL is optional
assert_stops_with_status_0() {
    local signal=${1:--TERM} status=0
    stop_server "$signal" || status=$?
    assertEquals "exit status after SIG${signal#-}; log: $(tail -n 20 "$SERVER_LOG")" 0 "$status" || return 1
    assert_log "Stopping: SIG${signal#-} received"
}

# _lib_wait_for_exit SECONDS PID...: waits (bounded) until none of the PIDs is running; false if
# some still are after SECONDS.
_lib_wait_for_exit() {
    local seconds=$1 i pid running
    shift
    for ((i = 0; i <= seconds * 10; i++)); do
        running=0
        for pid in "$@"; do
            if process_running "$pid"; then running=1; break; fi
        done
        ((running)) || return 0
        ((i == seconds * 10)) || sleep 0.1
    done
    return 1
}

# cleanup_test: stops every server and helper this suite started and closes idle connections.
# lib.sh makes it the default tearDown; a suite with its own tearDown must call it. Helpers (idle
# clients, peers such as nginx) get SIGTERM and, 3 s later, SIGKILL. Our servers get SIGTERM and up
# to STOP_TIMEOUT seconds (default 30) to exit: a server built with AddressSanitizer prints its
# LeakSanitizer report as it exits, and a SIGKILL would lose it without a word; so a server that
# has to be killed is a test failure, naming it.
cleanup_test() {
    local pid fd servers=()
    for fd in "${LIB_IDLE_FDS[@]}"; do exec {fd}>&-; done
    LIB_IDLE_FDS=()
    for pid in "${LIB_BG_PIDS[@]}"; do
        if process_running "$pid"; then STOP_TIMEOUT=3 stop_server "$pid" >/dev/null 2>&1 || true; fi
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${LIB_SERVER_PIDS[@]}"; do
        if process_running "$pid"; then servers+=("$pid"); kill -TERM "$pid" 2>/dev/null || true; fi
    done
    if ((${#servers[@]} > 0)) && ! _lib_wait_for_exit "${STOP_TIMEOUT:-30}" "${servers[@]}"; then
        for pid in "${servers[@]}"; do
            process_running "$pid" || continue
            kill -KILL "$pid" 2>/dev/null || true
            _lib_fail "cleanup_test: server PID $pid was still running ${STOP_TIMEOUT:-30} s after SIGTERM and had to be killed (a sanitizer's report, if any, is lost)"
        done
    fi
    for pid in "${LIB_SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    LIB_BG_PIDS=() LIB_SERVER_PIDS=()
    return 0
}

tearDown() { cleanup_test; }

# shared_server NAME PROGRAM ARGS...: like start_server, but the suite starts the server called
# NAME only the first time it asks for it and keeps it across tests (cleanup_test leaves it
# running), which saves a start-up per test. Later calls make it the current server again
# (SERVER_PID, SERVER_PORT, SERVER_LOG) and set LOG_MARK to the end of its log, so assert_log sees
# only what is logged from then on. A shared server found dead is reported and started again. A
# test that stops its server, or needs a server of its own, uses start_server instead. The suite's
# oneTimeTearDown calls stop_shared_servers.
shared_server() {
    local name=$1 i entry_name pid port log kept=()
    shift
    for i in "${!LIB_SHARED_SERVERS[@]}"; do
        IFS=$'\t' read -r entry_name pid port log <<<"${LIB_SHARED_SERVERS[$i]}"
        [[ $entry_name == "$name" ]] || continue
        SERVER_PID=$pid SERVER_PORT=$port SERVER_LOG=$log
        if process_running "$pid"; then
            LOG_MARK=$(wc -c <"$log")
            return 0
        fi
        _lib_fail "shared_server: the server '$name' (PID $pid) has stopped; its log:
$(tail -n 20 "$log")"
        wait "$pid" 2>/dev/null
        unset 'LIB_SHARED_SERVERS[i]'
    done
    start_server "$@" || return 1
    # start_server listed it for cleanup_test; it belongs to stop_shared_servers instead.
    for pid in "${LIB_SERVER_PIDS[@]}"; do [[ $pid == "$SERVER_PID" ]] || kept+=("$pid"); done
    LIB_SERVER_PIDS=("${kept[@]}")
    LIB_SHARED_SERVERS+=("$name"$'\t'"$SERVER_PID"$'\t'"$SERVER_PORT"$'\t'"$SERVER_LOG")
}

# stop_shared_servers: stops every server started by shared_server (call it in oneTimeTearDown),
# as cleanup_test does: SIGTERM, up to STOP_TIMEOUT seconds (default 30), and a failure for a
# server that had to be killed.
stop_shared_servers() {
    local entry name pid
    for entry in "${LIB_SHARED_SERVERS[@]}"; do
        IFS=$'\t' read -r name pid _ <<<"$entry"
        process_running "$pid" || continue
        stop_server "$pid" >/dev/null 2>&1
        if [[ $? == 137 ]]; then
            _lib_fail "stop_shared_servers: the server '$name' (PID $pid) was still running ${STOP_TIMEOUT:-30} s after SIGTERM and had to be killed (a sanitizer's report, if any, is lost)"
        fi
    done
    LIB_SHARED_SERVERS=()
    return 0
}

# start_peer [--config TEMPLATE FILE] PORT COMMAND [ARGS...]: starts a program that is not one of
# ours (openssl s_server, nginx, a Python stand-in) in the background from ROOT, stdout and stderr
# to PEER_LOG, and waits (at most START_TIMEOUT seconds, default 20) until it listens on
# 127.0.0.1:PORT: on Linux, until that listening socket is one of the program's own (so a listener
# left by someone else cannot pass for it); then one TCP connection probes it (closed at once; the
# program sees it). PORT may be the word @PORT@: then a free port replaces every @PORT@ in ARGS and,
# with --config, in a copy of TEMPLATE written to FILE, and when the program exits saying the port
# is in use (another process took it since free_port looked), it is started again on a new port,
# up to 3 times. Sets PEER_PORT, PEER_PID and PEER_LOG; cleanup_test stops it. On failure calls
# fail with its output and returns 1.
start_peer() {
    local template='' config='' port attempt i
    if [[ $1 == --config ]]; then template=$2 config=$3; shift 3; fi
    local wanted=$1
    shift
    for attempt in 1 2 3; do
        port=$wanted
        [[ $wanted != @PORT@ ]] || port=$(free_port)
        local command=("${@//@PORT@/$port}")
        [[ -z $template ]] || sed "s|@PORT@|$port|g" "$template" >"$config"
        _lib_scratch peer.log; PEER_LOG=$LIB_SCRATCH
        PEER_PORT=$port
        (cd "$ROOT" && exec "${command[@]}") >"$PEER_LOG" 2>&1 </dev/null &
        PEER_PID=$!
        LIB_BG_PIDS+=("$PEER_PID")
        for ((i = 0; i < ${START_TIMEOUT:-20} * 10; i++)); do
            # shellcheck disable=SC2016  # $1 is for the inner bash
            if _lib_listens "$PEER_PID" "$port" &&
               timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null; then
                return 0
            fi
            process_running "$PEER_PID" || break
            sleep 0.1
        done
        if [[ $wanted != @PORT@ ]] || process_running "$PEER_PID" || ! grep -qi 'in use' "$PEER_LOG"; then
            break
        fi
        wait "$PEER_PID" 2>/dev/null
    done
    _lib_fail "start_peer: '${command[*]}' is not listening on port $port; its output:
$(tail -n 20 "$PEER_LOG")"
    return 1
}

# _lib_listens PID PORT: true when process PID holds a socket listening on TCP port PORT. Where
# /proc does not say (not Linux), true: the caller's TCP probe is then all there is.
_lib_listens() {
    local inodes fd target
    [[ -r /proc/net/tcp && -d /proc/self/fd ]] || return 0
    [[ -d /proc/$1/fd ]] || return 1
    # /proc/net/tcp{,6}: field 2 is ADDRESS:PORT in hex, field 4 the state (0A is LISTEN), field 10
    # the socket's inode, which /proc/PID/fd/N links to as socket:[INODE].
    local tables=(/proc/net/tcp)
    [[ ! -r /proc/net/tcp6 ]] || tables+=(/proc/net/tcp6)
    inodes=$(awk -v port="$(printf '%04X' "$2")" '$4 == "0A" && substr($2, length($2) - 3) == port {
                 print "socket:[" $10 "]" }' "${tables[@]}")
    [[ -n $inodes ]] || return 1
    for fd in /proc/"$1"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        if grep -qxF -e "$target" <<<"$inodes"; then return 0; fi
    done
    return 1
}

# fingerprint FIXTURE: the SHA-256 fingerprint of $CERTS/FIXTURE.crt, as openssl prints it.
fingerprint() { openssl x509 -in "$CERTS/$1.crt" -noout -fingerprint -sha256 | sed 's/^[^=]*=//'; }

# start_stand_in MODE: starts tests/stand-in-server.py, a server that misbehaves on purpose (its
# header lists the modes), on a free port; the TLS modes serve $CERTS/server.crt. Sets SERVER_PORT,
# PEER_PID and PEER_LOG; cleanup_test stops it.
start_stand_in() {
    start_peer @PORT@ python3 "$ROOT/tests/stand-in-server.py" "$1" @PORT@ \
        "$CERTS/server.crt" "$CERTS/server.key"
    local status=$?
    SERVER_PORT=$PEER_PORT
    return $status
}

# ---------------------------------------------------------------------------------------------
# The server's log
# ---------------------------------------------------------------------------------------------

# mark_log: from now on, wait_for_log and assert_log look only at what SERVER_LOG gets next (for a
# test that makes several connections and checks the log line of each).
mark_log() {
    LOG_MARK=$(wc -c <"$SERVER_LOG" 2>/dev/null || echo 0)
}

# count_log PATTERN: prints how many lines of SERVER_LOG past LOG_MARK match the extended regular
# expression PATTERN.
count_log() {
    tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG" 2>/dev/null | grep -Ec -e "$1" || true
}

# wait_for_log_count N PATTERN: waits (at most 10 s) until N lines past LOG_MARK match PATTERN.
wait_for_log_count() { wait_for_log_count_within 100 "$@"; }

# wait_for_log_count_within TENTHS N PATTERN: the same, waiting at most TENTHS tenths of a second.
wait_for_log_count_within() {
    local i tenths=$1
    shift
    for ((i = 0; i < tenths; i++)); do
        (($(count_log "$2") >= $1)) && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_log PATTERN [SECONDS]: waits (default 5 s) until SERVER_LOG has a line matching the
# extended, case-insensitive regular expression PATTERN (looking only past byte LOG_MARK: see
# shared_server).
wait_for_log() {
    local i
    for ((i = 0; i < ${2:-5} * 10; i++)); do
        if grep -Eqi -e "$1" < <(tail -c "+$((${LOG_MARK:-0} + 1))" "$SERVER_LOG" 2>/dev/null); then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# assert_log PATTERN [MESSAGE]: asserts that a line matching PATTERN (as in wait_for_log) appears
# in SERVER_LOG within 5 s; on failure shows the log.
assert_log() {
    wait_for_log "$1" && return 0
    _lib_fail "${2:+$2: }no server log line matches /$1/; the log was:
$(tail -n 20 "$SERVER_LOG" 2>/dev/null)"
    return 1
}

# assert_connection_log PATTERN [MESSAGE]: like assert_log, for the line the server logged about
# the last curl_get's connection (it starts with the client's address, 127.0.0.1:CURL_LOCAL_PORT):
# PATTERN must match after that address, e.g. 'handshake failed: .+' or '"GET / HTTP/1\.1" 200$'.
assert_connection_log() {
    assert_log "^(127\\.0\\.0\\.1|\\[::1\\]):${CURL_LOCAL_PORT:-none} (.* )?$1" "${2:-}"
}

# assert_output_has TEXT PATTERN [MESSAGE]: asserts that TEXT (e.g. "$RUN_STDERR") matches the
# extended, case-insensitive regular expression PATTERN.
assert_output_has() {
    grep -Eqi -e "$2" <<<"$1" && return 0
    _lib_fail "${3:+$3: }expected output matching /$2/, got:
$1"
    return 1
}

# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------

# use_tls12_openssl_conf: sets TLS12_OPENSSL_CONF to an OpenSSL configuration file that caps every
# OpenSSL program started with OPENSSL_CONF=$TLS12_OPENSSL_CONF at TLS 1.2 (its system_default
# MaxProtocol), for programs without a version flag, such as the 04 client.
use_tls12_openssl_conf() {
    _lib_need_tmp
    TLS12_OPENSSL_CONF=$LIB_TMP/openssl-max-tls12.cnf
    [[ -f $TLS12_OPENSSL_CONF ]] ||
        printf '%s\n' 'openssl_conf = openssl_init' '[openssl_init]' 'ssl_conf = ssl_sect' '[ssl_sect]' \
            'system_default = system_default_sect' '[system_default_sect]' 'MaxProtocol = TLSv1.2' \
            >"$TLS12_OPENSSL_CONF"
}

# The clients below present no certificate, unless TLS_CLIENT=NAME is set (a fixture name, e.g.
# `TLS_CLIENT=other-client curl_get /whoami`): then they present $CERTS/NAME.crt, key NAME.key.

# curl_get PATH_OR_URL [CURL ARGS...]: runs curl (at most 15 s) against https://localhost:SERVER_PORT
# PATH (or the full https:// URL given), trusting $CERTS/ca.crt. Set CURL_CA=FILE to trust another
# file, or CURL_CA= (empty) to pass no --cacert. Sets CURL_STATUS (HTTP status, 000 when none),
# CURL_BODY (exact), CURL_HEADERS (CR removed), CURL_EXIT (curl's exit code), CURL_ERROR (stderr),
# CURL_LOCAL_PORT (curl's own port, which starts the server's log line for this connection,
# `127.0.0.1:PORT ...`; 0 or empty when it did not connect).
curl_get() {
    local url=$1 ca=${CURL_CA-$CERTS/ca.crt} out written
    shift
    [[ $url == http://* || $url == https://* ]] || url=https://localhost:$SERVER_PORT$url
    local ca_args=() cert_args=()
    [[ -z $ca ]] || ca_args=(--cacert "$ca")
    [[ -z ${TLS_CLIENT:-} ]] || cert_args=(--cert "$CERTS/$TLS_CLIENT.crt" --key "$CERTS/$TLS_CLIENT.key")
    _lib_scratch curl; out=$LIB_SCRATCH
    CURL_EXIT=0
    written=$(timeout -k 2 20 curl -q -sS --noproxy '*' --max-time 15 "${ca_args[@]}" "${cert_args[@]}" \
              -D "$out.headers" -o "$out.body" -w '%{http_code} %{local_port}' "$@" "$url" 2>"$out.err") ||
        CURL_EXIT=$?
    CURL_STATUS=${written%% *} CURL_LOCAL_PORT=''
    [[ $written != *' '* ]] || CURL_LOCAL_PORT=${written#* }
    CURL_STATUS=${CURL_STATUS:-000}
    _lib_slurp CURL_BODY "$out.body"
    CURL_HEADERS=$(tr -d '\r' <"$out.headers" 2>/dev/null)
    _lib_slurp CURL_ERROR "$out.err"
}

# header_value NAME: prints the value of header NAME (case-insensitive) from CURL_HEADERS.
header_value() {
    awk -v name="$1" 'tolower(substr($0, 1, length(name) + 1)) == tolower(name) ":" {
            sub(/^[^:]*:[ \t]*/, ""); print; exit }' <<<"$CURL_HEADERS"
}

# _lib_curl_context: one line describing the last curl_get, for failure messages.
_lib_curl_context() {
    printf 'curl exit %s, status %s, stderr: %s; server log tail:\n%s' "$CURL_EXIT" "$CURL_STATUS" \
        "${CURL_ERROR:-(none)}" "$(tail -n 5 "$SERVER_LOG" 2>/dev/null)"
}

# assert_curl STATUS [BODY]: asserts the last curl_get succeeded (exit 0) with STATUS and, when
# given, exactly BODY.
assert_curl() {
    local context
    context=$(_lib_curl_context)
    assertEquals "curl exit code ($context)" 0 "$CURL_EXIT" || return 1
    assertEquals "HTTP status ($context)" "$1" "$CURL_STATUS" || return 1
    if [[ $# -ge 2 ]]; then assertEquals "response body" "$2" "$CURL_BODY" || return 1; fi
}

# assert_curl_fails EXIT_CODE...: asserts the last curl_get got no HTTP answer and exited with one
# of the given codes (e.g. 60 unknown CA; 35, 52 or 56 when the server refuses the handshake).
assert_curl_fails() {
    local context code
    context=$(_lib_curl_context)
    assertEquals "no HTTP status expected ($context)" 000 "$CURL_STATUS" || return 1
    for code in "$@"; do [[ $CURL_EXIT == "$code" ]] && return 0; done
    _lib_fail "curl exit code: wanted one of $*, got $CURL_EXIT ($context)"
    return 1
}

# curl_many N PATH_OR_URL [CURL ARGS...]: runs N curl_get-style clients at the same time. Sets
# CURL_MANY_OK (clients that got HTTP 200 with curl exit 0) and CURL_MANY_SUMMARY (a count per
# "status/exit" pair, for messages).
curl_many() {
    local n=$1 url=$2 ca=${CURL_CA-$CERTS/ca.crt} i out pids=()
    shift 2
    [[ $url == http://* || $url == https://* ]] || url=https://localhost:$SERVER_PORT$url
    local ca_args=()
    [[ -z $ca ]] || ca_args=(--cacert "$ca")
    [[ -z ${TLS_CLIENT:-} ]] || ca_args+=(--cert "$CERTS/$TLS_CLIENT.crt" --key "$CERTS/$TLS_CLIENT.key")
    _lib_scratch curl-many; out=$LIB_SCRATCH
    mkdir -p "$out"
    for ((i = 0; i < n; i++)); do
        (
            status=$(timeout -k 2 30 curl -q -sS --noproxy '*' --max-time 25 "${ca_args[@]}" \
                     -o /dev/null -w '%{http_code}' "$@" "$url" 2>>"$out/errors")
            echo "${status:-000}/$?" >"$out/$i"
        ) &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    CURL_MANY_OK=$(cat "$out"/[0-9]* 2>/dev/null | grep -c '^200/0$' || true)
    CURL_MANY_SUMMARY=$(cat "$out"/[0-9]* 2>/dev/null | sort | uniq -c | tr -s ' \n' '  ')
}

# The Python helper behind raw_request and open_idle_tls: connects with TLS to HOST:PORT trusting
# CA (and presenting the client certificate and key given after SECONDS, if any; only TLS version
# TLS_VERSION, 1.2 or 1.3, when that environment variable is set), then either sends
# stdin and prints everything received until the server closes ("send"), or holds the connection
# without sending (at most SECONDS) after writing "ready" to stdout ("hold").
_LIB_TLS_PY='
import os, socket, ssl, sys, time
mode, host, port, ca, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
if os.environ.get("TLS_VERSION"):
    version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[os.environ["TLS_VERSION"]]
    ctx.minimum_version = ctx.maximum_version = version
if len(sys.argv) > 7:
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
try:
    raw = socket.create_connection((host, port), timeout=limit)
    tls = ctx.wrap_socket(raw, server_hostname=host)
except (OSError, ssl.SSLError) as e:
    sys.exit("TLS connection failed: %s" % e)
if mode == "hold":
    print("ready", flush=True)
    time.sleep(limit)
    sys.exit(0)
tls.sendall(sys.stdin.buffer.read())
received = []
while True:
    try:
        chunk = tls.recv(65536)
    except (ssl.SSLError, OSError):
        break
    if not chunk:
        break
    received.append(chunk)
sys.stdout.buffer.write(b"".join(received))
'

# raw_request DATA [HOST]: sends DATA (printf %b escapes such as \r\n are expanded) over TLS to
# HOST (default localhost):SERVER_PORT, trusting $CERTS/ca.crt (TLS_VERSION=1.2 or 1.3 allows only
# that version), and reads until the server closes
# (at most 15 s). Sets RAW_RESPONSE (exact, CR removed), RAW_BODY (what follows the blank line),
# RAW_STATUS (status code from the status line, or empty), RAW_EXIT and RAW_ERROR (the helper's
# stderr, e.g. why the handshake failed).
raw_request() {
    local out cert_files=()
    [[ -z ${TLS_CLIENT:-} ]] || cert_files=("$CERTS/$TLS_CLIENT.crt" "$CERTS/$TLS_CLIENT.key")
    _lib_scratch raw; out=$LIB_SCRATCH
    RAW_EXIT=0
    printf '%b' "$1" | TLS_VERSION=${TLS_VERSION:-} timeout -k 2 20 python3 -c "$_LIB_TLS_PY" send "${2:-localhost}" \
        "$SERVER_PORT" "$CERTS/ca.crt" 15 "${cert_files[@]}" >"$out" 2>"$out.err" || RAW_EXIT=$?
    RAW_RESPONSE=$(tr -d '\r' <"$out"; echo x)
    RAW_RESPONSE=${RAW_RESPONSE%x}
    RAW_BODY=''
    [[ $RAW_RESPONSE != *$'\n\n'* ]] || RAW_BODY=${RAW_RESPONSE#*$'\n\n'}
    RAW_STATUS=$(head -n 1 <<<"$RAW_RESPONSE" | sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\).*|\1|p')
    RAW_ERROR=$(cat "$out.err" 2>/dev/null)
}

# open_idle_tcp [N]: opens N (default 1) TCP connections to SERVER_PORT that never send a byte.
open_idle_tcp() {
    local i fd
    for ((i = 0; i < ${1:-1}; i++)); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT" || return 1
        LIB_IDLE_FDS+=("$fd")
    done
}

# open_idle_tls: completes a TLS handshake with the server and then sends nothing (for at most
# 30 s; cleanup_test ends it sooner). Returns 1 if the handshake did not complete.
open_idle_tls() {
    local out i cert_files=()
    [[ -z ${TLS_CLIENT:-} ]] || cert_files=("$CERTS/$TLS_CLIENT.crt" "$CERTS/$TLS_CLIENT.key")
    _lib_scratch idle-tls; out=$LIB_SCRATCH
    python3 -c "$_LIB_TLS_PY" hold localhost "$SERVER_PORT" "$CERTS/ca.crt" 30 "${cert_files[@]}" >"$out" 2>&1 &
    LIB_BG_PIDS+=($!)
    for ((i = 0; i < 50; i++)); do
        if grep -qs ready "$out"; then return 0; fi
        sleep 0.1
    done
    _lib_fail "open_idle_tls: no handshake: $(cat "$out")"
    return 1
}

# assert_session_lifetime_hint SECONDS: a TLS 1.3 client (TLS_CLIENT=client) of the server on
# SERVER_PORT learns SECONDS as its session ticket's lifetime hint: how long the server keeps the
# session for a resumption (SSL_CTX_set_timeout).
assert_session_lifetime_hint() {
    local hint
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3
    hint=$(sed -n 's/.*TLS session ticket lifetime hint: \([0-9]*\).*/\1/p' <<<"$SCLIENT_OUTPUT" | head -n 1)
    assertEquals "the lifetime hint (s_client: $SCLIENT_OUTPUT)" "$1" "$hint"
}

# s_client_request DATA [S_CLIENT ARGS...]: sends DATA (printf %b escapes such as \r\n are
# expanded) with `openssl s_client` to 127.0.0.1:SERVER_PORT (name localhost, trusting
# $CERTS/ca.crt) and reads until the server closes (at most 15 s). ARGS add, e.g., -tls1_2, or
# -sess_out FILE then -sess_in FILE to resume a session. Sets SCLIENT_OUTPUT (stdout and stderr:
# the handshake, then the response; under TLS 1.3 s_client may print a session ticket in the
# middle of the response), SCLIENT_EXIT, SCLIENT_STATUS (the HTTP status, or empty) and
# SCLIENT_REUSED (yes when s_client says it resumed the session, else no).
s_client_request() {
    local data=$1 out cert_args=()
    shift
    [[ -z ${TLS_CLIENT:-} ]] || cert_args=(-cert "$CERTS/$TLS_CLIENT.crt" -key "$CERTS/$TLS_CLIENT.key")
    _lib_scratch s_client; out=$LIB_SCRATCH
    SCLIENT_EXIT=0
    printf '%b' "$data" | timeout -k 2 15 openssl s_client -connect "127.0.0.1:$SERVER_PORT" \
        -servername localhost -CAfile "$CERTS/ca.crt" -verify_return_error -ign_eof \
        "${cert_args[@]}" "$@" >"$out" 2>&1 || SCLIENT_EXIT=$?
    _lib_slurp SCLIENT_OUTPUT "$out"
    SCLIENT_STATUS=$(awk 'match($0, /HTTP\/1\.[01] [0-9][0-9][0-9]/) {
                              print substr($0, RSTART + 9, 3); exit }' "$out")
    SCLIENT_REUSED=no
    if grep -q '^Reused, ' "$out"; then SCLIENT_REUSED=yes; fi
}

# How the server ends a connection after its answer, seen by a Python client (TLS_CLIENT's
# certificate if set): it sends DATA (printf %b escapes expanded), reads until the end, and prints
# the response then a last line: "end: close_notify" when the server said close_notify before
# closing, "end: ragged (WHY)" when the TCP connection ended without it (a truncation attack looks
# exactly like that), or "end: timeout" after SECONDS. Ragged EOFs are not suppressed, so that the
# two are told apart.
_LIB_CLOSE_PY='
import socket, ssl, sys
port, ca, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
raw = socket.create_connection(("127.0.0.1", port), timeout=limit)
tls = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
tls.sendall(sys.stdin.buffer.read())
received = b""
end = "end: timeout"
while True:
    try:
        chunk = tls.recv(65536)
    except ssl.SSLZeroReturnError:
        end = "end: close_notify"
        break
    except ssl.SSLEOFError as e:
        end = "end: ragged (%s)" % e
        break
    except socket.timeout:
        break
    except (ssl.SSLError, OSError) as e:
        end = "end: ragged (%s)" % e
        break
    if not chunk:
        end = "end: close_notify"
        break
    received += chunk
sys.stdout.write(received.decode("latin-1").replace("\r", "") + "\n" + end + "\n")
'

# assert_close_notify_after_the_answer: GET / (with TLS_CLIENT's certificate if set) gets
# `Hello World!`, then the server's close_notify before the TCP connection ends.
assert_close_notify_after_the_answer() {
    local output cert_files=()
    [[ -z ${TLS_CLIENT:-} ]] || cert_files=("$CERTS/$TLS_CLIENT.crt" "$CERTS/$TLS_CLIENT.key")
    output=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' |
             timeout -k 2 20 python3 -c "$_LIB_CLOSE_PY" "$SERVER_PORT" "$CERTS/ca.crt" 15 \
                 "${cert_files[@]}" 2>&1)
    assert_output_has "$output" '^Hello World!$' 'the answer' || return 1
    assert_output_has "$output" '^end: close_notify$' 'how the server ended the connection'
}

# tls12_cipher_handshake CIPHER: `openssl s_client -tls1_2 -cipher CIPHER` (TLS_CLIENT's
# certificate if set) sends GET / to SERVER_PORT. Sets CIPHER_OUTPUT (what s_client printed),
# CIPHER_EXIT, and CIPHER_CHOSEN (the cipher s_client reports, "(NONE)" when the handshake failed).
tls12_cipher_handshake() {
    local cert_args=()
    [[ -z ${TLS_CLIENT:-} ]] || cert_args=(-cert "$CERTS/$TLS_CLIENT.crt" -key "$CERTS/$TLS_CLIENT.key")
    CIPHER_EXIT=0
    CIPHER_OUTPUT=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout -k 2 15 openssl s_client \
        -connect "127.0.0.1:$SERVER_PORT" -servername localhost -CAfile "$CERTS/ca.crt" \
        -verify_return_error -ign_eof -tls1_2 -cipher "$1" "${cert_args[@]}" 2>&1) || CIPHER_EXIT=$?
    CIPHER_CHOSEN=$(sed -n 's/^ *Cipher *: *\([^ ]*\)$/\1/p; s/.*, Cipher is \([^ ]*\)$/\1/p' \
        <<<"$CIPHER_OUTPUT" | head -n 1)
}

# assert_tls12_cipher_refused CIPHER: the server refuses a TLS 1.2 client that offers only CIPHER
# (a handshake_failure alert: no cipher in common), and logs why.
assert_tls12_cipher_refused() {
    tls12_cipher_handshake "$1"
    assertNotEquals "s_client -tls1_2 -cipher $1 must fail; it printed: $CIPHER_OUTPUT" 0 "$CIPHER_EXIT" ||
        return 1
    assert_output_has "$CIPHER_OUTPUT" 'alert handshake failure' "s_client -cipher $1" || return 1
    assert_log 'handshake failed: the client offered no cipher suite this server accepts$' "$1"
}

# assert_tls12_cipher_accepted CIPHER: a TLS 1.2 client that offers only CIPHER gets it, and 200.
assert_tls12_cipher_accepted() {
    tls12_cipher_handshake "$1"
    assertEquals "the cipher chosen (s_client: $CIPHER_OUTPUT)" "$1" "$CIPHER_CHOSEN" || return 1
    assert_output_has "$CIPHER_OUTPUT" '^HTTP/1\.[01] 200 ' "s_client -cipher $1"
}

# start_server_with_stdin_and_stderr_closed PROGRAM ARGS...: like start_server (--port 0, our
# certificate and key, --ca for programs that take it), but started as `PROGRAM <&- 2>&-`, stdout
# alone to SERVER_LOG. A server must not hand out descriptor 0 or 2 to a socket or a pipe then.
start_server_with_stdin_and_stderr_closed() {
    local program=$1 i args
    shift
    args=(--port 0 --cert "$CERTS/server.crt" --key "$CERTS/server.key" "$@")
    ! _lib_supports_flag "$program" '--ca' || has_flag --ca "$@" || args+=(--ca "$CERTS/ca.crt")
    _lib_scratch server.log; SERVER_LOG=$LIB_SCRATCH; : >"$SERVER_LOG"
    SERVER_PORT='' LOG_MARK=0
    (cd "$ROOT" && exec "$program" "${args[@]}") >"$SERVER_LOG" 2>&- <&- &
    SERVER_PID=$!
    LIB_SERVER_PIDS+=("$SERVER_PID")
    _lib_wait_until_listening && return 0
    _lib_fail "started with stdin and stderr closed, $program did not print 'Listening on'; its output:
$(cat "$SERVER_LOG")"
    return 1
}

# assert_standard_streams_are_not_sockets: the server's descriptors 0 and 2 are /dev/null (it
# opened them in place of the closed ones), not its listening socket, a pipe, or a client's socket,
# where a message meant for stderr would go to a client.
assert_standard_streams_are_not_sockets() {
    local fd target
    for fd in 0 2; do
        target=$(readlink "/proc/$SERVER_PID/fd/$fd" 2>&1)
        assertEquals "the server's descriptor $fd (its descriptors: $(find "/proc/$SERVER_PID/fd" -mindepth 1 \
                      -printf '%f -> %l, ' 2>&1))" /dev/null "$target" || return 1
    done
}

# assert_log_is_only_request_lines: every line of SERVER_LOG is one the server means to write
# (Listening, a connection's line, a reload's, Stopping): nothing else landed in it.
assert_log_is_only_request_lines() {
    local stray
    stray=$(grep -Ev '^(Listening on |Reloaded|Stopping: |(127\.0\.0\.1|\[::1\]):[0-9]+ )' "$SERVER_LOG")
    assertEquals "lines in the log that are not the server's (the log: $(cat "$SERVER_LOG"))" '' "$stray"
}

# assert_failed_accepts_logged_once_a_second: the server (SERVER_PID) runs out of descriptors:
# its soft limit (only: raising a hard limit back needs CAP_SYS_RESOURCE) is lowered to its
# lowest free descriptor, and one client connects (and sends a byte) and waits, so each accept()
# fails with EMFILE. Over 3 s the log holds at least one `accept failed` line and at most 4 (a
# line a second), not one per try. Then the limit is raised back, and that client's or the next
# client's connection is taken again: GET / (with TLS_CLIENT's certificate if set) gets 200.
assert_failed_accepts_logged_once_a_second() {
    local soft lowest=0 held lines
    soft=$(prlimit --pid "$SERVER_PID" --nofile --output=SOFT --noheadings) ||
        { fail 'prlimit cannot read the descriptor limit'; return 1; }
    while [[ -e /proc/$SERVER_PID/fd/$lowest ]] && ((lowest < 4096)); do lowest=$((lowest + 1)); done
    prlimit --pid "$SERVER_PID" --nofile="$lowest:" ||
        { fail 'prlimit could not lower the descriptor limit'; return 1; }
    mark_log
    exec {held}<>"/dev/tcp/127.0.0.1/$SERVER_PORT" && LIB_IDLE_FDS+=("$held") && printf '\x16' >&"$held" ||
        { fail 'could not connect'; return 1; }
    if ! wait_for_log 'accept failed: Too many open files'; then
        prlimit --pid "$SERVER_PID" --nofile="$soft:"
        fail "no 'accept failed' line with the limit at $lowest descriptors; the log: $(tail -n 5 "$SERVER_LOG")"
        return 1
    fi
    sleep 3
    lines=$(count_log 'accept failed')
    prlimit --pid "$SERVER_PID" --nofile="$soft:" ||
        { fail "prlimit could not raise the descriptor limit back to $soft"; return 1; }
    assertTrue "'accept failed' lines in about 3 s: wanted 1 to 4 (a line a second), got $lines" \
        "((lines >= 1 && lines <= 4))" || return 1
    curl_get /
    assert_curl 200 'Hello World!'
}
