#!/usr/bin/env bash
# Chapter 05, the production server: what it adds to chapter 03 on its command line and in its
# log. (Chapter 03's whole suite runs against it too, in tests/test_05_as_chapter_03.sh; its reload
# in tests/test_reload.sh, its worker pool in tests/test_workers.sh.)
# Run alone with `tests/run.sh test_05_production_server` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 05-production-server/server)

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }

test_help_names_the_per_address_cap() {
    run_program "$SERVER" --help
    assertEquals "exit status; stderr: $RUN_STDERR" 0 "$RUN_STATUS"
    assert_output_has "$RUN_STDOUT" '--max-per-address N +of which one client address may hold \(default 16\)'
}

test_bad_max_per_address_prints_usage_and_exits_2() {
    run_program "$SERVER" --port 0 --max-per-address 0
    assert_run 2 "--max-per-address must be a number from 1 to 4096, not '0'" 'usage: server'
}

test_unknown_flag_prints_usage_and_exits_2() {
    run_program "$SERVER" --bogus 1
    assert_run 2 "unknown option '--bogus'" 'usage: server'
}

# Over --max-per-address, a connection is closed at once and the log says so (a line a second at
# most); below it, and from another address, clients are served.
test_connections_over_the_per_address_cap_are_refused_and_logged() {
    start_server "$SERVER" --max-per-address 2 || return
    open_idle_tcp 2 || return
    TLS_CLIENT=client curl_get /
    assertEquals "a third connection from 127.0.0.1 (curl exit $CURL_EXIT: $CURL_ERROR)" 000 "$CURL_STATUS"
    assert_log '^127\.0\.0\.1:[0-9]+ refused: 2 connections from this address already \(--max-per-address\)$' || return
    # The same server, a client from another loopback address: served.
    TLS_CLIENT=client curl_get / --interface 127.0.0.2
    assert_curl 200 'Hello World!'
}

# scratch_05 NAME SED_SCRIPT: chapter 05 built from the source under test (the one beside the
# program: a mutant's, under make mutants) changed by SED_SCRIPT; prints where.
scratch_05() {
    local dir=$SHUNIT_TMPDIR/scratch-$1 source
    source=$(program_path 05-production-server/server).c
    [[ -f $source ]] || source=$ROOT/05-production-server/server.c
    mkdir -p "$dir" && sed "$2" "$source" >"$dir/server.c" && ! cmp -s "$dir/server.c" "$source" &&
        timeout 120 "${CC:-cc}" -O1 -o "$dir/server" "$dir/server.c" -lssl -lcrypto -lpthread >"$dir/cc.log" 2>&1 &&
        echo "$dir/server"
}

# A TLS 1.3 client that comes back within the session lifetime gets a new session each time; the
# proof that it holds its key is in the full handshake only, so renewals stop once that proof is
# KEY_PROOF_MAX_SECONDS old (a build with 5 s here; 3600 in the real one). Resumed at 3 s: renewed.
# Resumed at 7 s: served, but the session it hands out is not kept, so the next one is full.
test_tls13_session_renewals_stop_once_the_key_proof_is_too_old() {
    local program dir=$SHUNIT_TMPDIR s1 s2 s3 start i
    program=$(scratch_05 proof-5s 's/^#define KEY_PROOF_MAX_SECONDS   3600$/#define KEY_PROOF_MAX_SECONDS   5/') ||
        { fail "scratch build failed: $program"; return; }
    s1=$dir/s1.session s2=$dir/s2.session s3=$dir/s3.session
    start_server "$program" || return
    start=$(date +%s)
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_out "$s1"
    assertEquals 'the full handshake' 200 "$SCLIENT_STATUS" || return
    for ((i = 0; i < 100 && $(date +%s) < start + 3; i++)); do sleep 0.1; done
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$s1" -sess_out "$s2"
    assertEquals 'resumed at 3 s' yes "$SCLIENT_REUSED" || return
    for ((i = 0; i < 100 && $(date +%s) < start + 7; i++)); do sleep 0.1; done
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$s2" -sess_out "$s3"
    assertEquals 'resumed at 7 s, the proof 7 s old: still served' yes "$SCLIENT_REUSED"
    assertEquals 'status at 7 s' 200 "$SCLIENT_STATUS"
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$s3"
    assertEquals 'the session handed out at 7 s is not kept: a full handshake' no "$SCLIENT_REUSED"
    assertEquals 'status of the full handshake' 200 "$SCLIENT_STATUS"
}

test_curl_checks_script_agrees_with_chapter_05() {
    start_server "$SERVER" || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 05 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 05 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
