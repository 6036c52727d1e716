#!/usr/bin/env bash
# tests/lib.sh's own promises, the ones every suite leans on: start_peer knows its peer from a
# program that merely holds the same port, and tries a new port when its own is taken; cleanup_test
# gives a server time to exit after SIGTERM (a sanitizer build prints its leak report then), and a
# server that has to be killed fails the test instead of vanishing without a word.
# Run alone with `tests/run.sh test_lib`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# The failures lib.sh reports go to FAILURES instead of failing this suite's test, while a test
# looks at them (catch_failures, then release_failures).
catch_failures() {
    FAILURES=''
    SAVED_LIB_FAIL=$(declare -f _lib_fail)
    _lib_fail() { FAILURES+="$1"$'\n'; }
}
release_failures() { eval "$SAVED_LIB_FAIL"; }

# hold_port: a program of nobody's choosing (python3) listening on 127.0.0.1; sets HELD_PORT.
hold_port() {
    local i
    _lib_scratch held-port; HELD_PORT_FILE=$LIB_SCRATCH
    python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$HELD_PORT_FILE" 2>&1 &
    LIB_BG_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        HELD_PORT=$(head -n 1 "$HELD_PORT_FILE")
        [[ -z $HELD_PORT ]] || return 0
        sleep 0.1
    done
    fail "the port holder did not start: $(cat "$HELD_PORT_FILE")"
    return 1
}

# PEER_PY PORT: a peer that listens on 127.0.0.1:PORT (and says so), or exits saying the port is
# in use.
PEER_PY='import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("peer listening", flush=True)
time.sleep(60)'

test_start_peer_does_not_take_another_programs_listener_for_its_peer() {
    hold_port || return
    catch_failures
    START_TIMEOUT=5 start_peer "$HELD_PORT" python3 -c "$PEER_PY" "$HELD_PORT"
    local status=$?
    release_failures
    assertNotEquals "start_peer must fail: its peer could not listen on port $HELD_PORT, which another program holds" \
        0 "$status" || return
    assert_output_has "$FAILURES" "is not listening on port $HELD_PORT" "start_peer's failure"
}

test_start_peer_tries_a_new_port_when_its_port_is_taken() {
    hold_port || return
    # free_port's first answer is a port that is taken by the time the peer starts. (It runs in
    # $(...), so a file remembers that it has answered.)
    FREE_PORT_ANSWERED=$SHUNIT_TMPDIR/free-port-answered
    rm -f "$FREE_PORT_ANSWERED"
    eval "real_$(declare -f free_port)"
    free_port() {
        if [[ -e $FREE_PORT_ANSWERED ]]; then real_free_port; else : >"$FREE_PORT_ANSWERED"; echo "$HELD_PORT"; fi
    }
    start_peer @PORT@ python3 -c "$PEER_PY" @PORT@
    local status=$?
    eval "$(declare -f real_free_port | sed '1s/^real_//')"
    assertEquals "start_peer's status (peer output: $(cat "$PEER_LOG"))" 0 "$status" || return
    assertNotEquals 'the port of the second attempt' "$HELD_PORT" "$PEER_PORT" || return
    assert_output_has "$(cat "$PEER_LOG")" '^peer listening$' 'the peer started on the new port'
}

# fake_server NAME SCRIPT: an executable stand-in for a chapter server, for start_server: it
# answers --help, prints the Listening line and then runs SCRIPT (bash) in a loop.
fake_server() {
    FAKE_SERVER=$SHUNIT_TMPDIR/$1
    # shellcheck disable=SC2016  # the lines are the fake server's, expanded when it runs
    printf '%s\n' '#!/usr/bin/env bash' '[[ ${1:-} != --help ]] || exit 0' "$2" \
        'echo "Listening on https://localhost:1"' 'for ((i = 0; i < 600; i++)); do sleep 0.1; done' \
        >"$FAKE_SERVER"
    chmod +x "$FAKE_SERVER"
}

test_cleanup_fails_the_test_when_a_server_must_be_killed() {
    fake_server ignores-sigterm "trap '' TERM"
    start_server "$FAKE_SERVER" || return
    local pid=$SERVER_PID
    catch_failures
    STOP_TIMEOUT=2 cleanup_test
    release_failures
    assertFalse 'the server was stopped' "process_running $pid" || return
    assert_output_has "$FAILURES" "server PID $pid was still running 2 s after SIGTERM and had to be killed" \
        "cleanup_test's failure"
}

# A server built with AddressSanitizer can take seconds to exit on a busy machine: cleanup_test
# waits (STOP_TIMEOUT, 30 s by default) rather than killing it after a fixed 3 s.
test_cleanup_lets_a_slow_server_finish_exiting() {
    local done_file=$SHUNIT_TMPDIR/slow-server-exited
    fake_server slow-to-exit "trap 'sleep 4; echo clean >\"$done_file\"; exit 0' TERM"
    start_server "$FAKE_SERVER" || return
    catch_failures
    cleanup_test
    release_failures
    assertEquals "lib.sh's complaints" '' "$FAILURES" || return
    assertTrue 'the server ran its exit code to the end' "[ -s '$done_file' ]"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
