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

test_curl_checks_script_agrees_with_chapter_05() {
    start_server "$SERVER" || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 05 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 05 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
