#!/usr/bin/env bash
# The worker pool (Part 2, the same code in every server, so chapter 03 stands for all three):
# --max-connections N bounds the connections served at once, the next one waits in the kernel's
# listen queue until a worker is free, slow clients do not hold up the others below the bound,
# and two idle workers wait in accept() while the others sleep, so light load is served by the
# same two threads instead of rotating over all of them. Threads are counted in /proc/PID/task,
# and which of them woke up is read from each thread's voluntary_ctxt_switches: nothing new is
# exposed by the server. No speed is judged; the waits are bounds (a client still waiting after
# 1 s at the bound, one served before another's 10 s deadline). Run alone with
# `tests/run.sh test_workers` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 05-production-server/server)

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }

# thread_count: how many threads the server has now.
thread_count() { find "/proc/$SERVER_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }

# fd_count: how many descriptors the server has open now.
fd_count() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# wake_ups: one line per thread but main, "TID voluntary_ctxt_switches" (each time the thread
# blocked and was woken again: a sleeping idle worker's count does not move).
wake_ups() {
    local task
    for task in "/proc/$SERVER_PID/task"/*; do
        [[ ${task##*/} != "$SERVER_PID" ]] || continue
        awk -v tid="${task##*/}" '/^voluntary_ctxt_switches:/ { print tid, $2 }' "$task/status" 2>/dev/null
    done
}

# sequential_gets N: N clients one after the other, each a full mTLS handshake and GET /; prints
# how many got 200 `Hello World!`.
sequential_gets() {
    local i ok=0
    for ((i = 0; i < $1; i++)); do
        curl_get /
        [[ $CURL_EXIT == 0 && $CURL_STATUS == 200 && $CURL_BODY == 'Hello World!' ]] && ok=$((ok + 1))
    done
    echo "$ok"
}

setUp() { TLS_CLIENT=client; }

# With every worker blocked in accept(), 20 sequential clients would wake 16 threads (and the
# server would hold 16 from the start). Here: main, the standby thread, and at most two workers
# (one on a one-CPU machine, where no second worker is sent to accept() while the first is busy).
test_sequential_clients_are_served_by_at_most_two_worker_threads() {
    local threads
    start_server "$SERVER" --max-connections 16 || return
    assertEquals 'threads before any client (main, the standby thread, one worker)' 3 "$(thread_count)"
    assertEquals 'sequential clients that got Hello World!' 20 "$(sequential_gets 20)"
    threads=$(thread_count)
    assertTrue "threads after 20 sequential clients: main, standby and 1 or 2 workers, got $threads" \
        "((threads == 3 || threads == 4))"
}

# wait_until_quiet: waits (at most 3 s) until no thread of the server wakes up for 0.3 s: once it
# has started looking at the listen queue, the standby thread goes on for 20 looks (about 200 ms)
# after fewer workers than CPUs are busy.
wait_until_quiet() {
    local before after i
    after=$(wake_ups)
    for ((i = 0; i < 10; i++)); do
        before=$after
        sleep 0.3
        after=$(wake_ups)
        [[ $before != "$after" ]] || return 0
    done
    fail "the server's threads kept waking up with no client: $after"
}

# Three clients at once hold three workers; once they are gone, two workers wait in accept() and
# the third sleeps: sequential clients wake only the two. With every idle worker in accept()
# (the kernel hands a connection to the one that waited longest), all three would take turns.
test_idle_workers_beyond_two_sleep_while_two_take_turns() {
    local before after woke
    start_server "$SERVER" --max-connections 8 || return
    open_idle_tls && open_idle_tls && open_idle_tls || return
    assertTrue "threads with 3 clients connected (main, standby, 3 or 4 workers): $(thread_count)" \
        "(($(thread_count) == 5 || $(thread_count) == 6))"
    mark_log
    cleanup_idle_clients
    wait_for_log_count 3 'no request' ||
        fail "the 3 idle clients' connections did not end; log: $(tail -n 5 "$SERVER_LOG")"
    wait_until_quiet
    before=$(wake_ups)
    assertEquals 'sequential clients that got Hello World!' 10 "$(sequential_gets 10)"
    after=$(wake_ups)
    woke=$(join <(sort <<<"$before") <(sort <<<"$after") | awk '$2 != $3' | wc -l)
    assertEquals "threads that woke up for 10 sequential clients (the two workers in accept());
before (TID switches):
$before
after:
$after
" 2 "$woke"
}

# The bound: with --max-connections 2 and two clients holding both workers, a third client's
# connection waits (the kernel completed its TCP handshake, nobody answers its TLS hello) and is
# served as soon as one of the two leaves.
test_a_connection_beyond_the_bound_waits_then_is_served() {
    local out curl_pid i
    start_server "$SERVER" --max-connections 2 || return
    open_idle_tls && open_idle_tls || return
    _lib_scratch waiting-curl; out=$LIB_SCRATCH
    timeout -k 2 30 curl -q -sS --noproxy '*' --max-time 25 --cacert "$CERTS/ca.crt" \
        --cert "$CERTS/client.crt" --key "$CERTS/client.key" -o "$out.body" -w '%{http_code}' \
        "https://localhost:$SERVER_PORT/" >"$out" 2>"$out.err" &
    curl_pid=$!
    LIB_BG_PIDS+=("$curl_pid")
    sleep 1
    assertTrue 'the third client is still waiting while both workers are busy' "process_running $curl_pid"
    assertEquals 'no request served while both workers are busy' 0 "$(count_log '"GET / HTTP/1\.1"')"
    assertEquals 'threads: main, standby, 2 workers (no third)' 4 "$(thread_count)"
    kill -TERM "${LIB_BG_PIDS[0]}" 2>/dev/null
    for ((i = 0; i < 100; i++)); do process_running "$curl_pid" || break; sleep 0.1; done
    wait "$curl_pid" 2>/dev/null
    assertEquals "the third client, once a worker was free (curl said: $(cat "$out.err"))" \
        '200 Hello World!' "$(cat "$out") $(cat "$out.body" 2>/dev/null)"
    assertEquals 'threads after: still 2 workers' 4 "$(thread_count)"
}

# Clients that completed their handshake and then say nothing each hold one worker; the server
# goes on serving others. As many of them as the machine has CPUs: then no idle worker waits in
# accept(), and the standby thread must notice the next connection waiting. It is served while
# the silent ones are still connected, long before their 10 s deadline would free a worker.
test_slow_clients_do_not_hold_up_the_others() {
    local i cpus
    cpus=$(getconf _NPROCESSORS_ONLN)
    start_server "$SERVER" --max-connections $((cpus + 2)) || return
    for ((i = 0; i < cpus; i++)); do open_idle_tls || return; done
    mark_log
    curl_get /
    assert_curl 200 'Hello World!'
    assertEquals "silent clients whose deadline passed before the next client was served" 0 \
        "$(count_log 'no request')"
}

# A worker thread that cannot be started (a full pids limit, say) is tried again: the standby
# thread starts looking, sees the next connection waiting, and starts a worker for it. Here the
# third thread the server starts fails (the standby thread and the first worker are the first
# two): the next client is served while the silent one still holds the first worker, not once its
# deadline frees it.
test_a_worker_that_cannot_start_is_tried_again() {
    local shim
    _lib_scratch fail-one-thread; shim=$LIB_SCRATCH.so
    timeout 120 "${CC:-cc}" -shared -fPIC -o "$shim" "$(dirname "$0")/fail-one-thread.c" -ldl ||
        { fail 'cannot build tests/fail-one-thread.c'; return; }
    LD_PRELOAD=$shim FAIL_THREAD=3 start_server "$SERVER" --max-connections 8 || return
    mark_log
    open_idle_tls || return
    curl_get /
    assert_curl 200 'Hello World!'
    assertEquals "silent clients whose deadline passed before the next client was served" 0 \
        "$(count_log 'no request')"
    assert_log 'cannot start a worker thread: Resource temporarily unavailable'
}

# Out of file descriptors (EMFILE): the standby thread sends a worker for each of the 5 clients
# it sees waiting, once; the workers whose accept() fails pause and try again, still counted as in
# accept(), so no more are sent however long it lasts (each would fail the same way). Here the
# limit leaves room for the two silent clients only. Once it is raised, a client is served.
HOLD_PY='
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(5)]
for s in socks:
    s.sendall(b"\x16")    # a first byte, as a ClientHello would begin
print("sent", flush=True)
time.sleep(30)
'

test_out_of_descriptors_the_pool_does_not_grow() {
    local out soft
    start_server "$SERVER" --max-connections 16 || return
    open_idle_tls && open_idle_tls || return
    # The soft limit only ("N:"): raising a hard limit back needs CAP_SYS_RESOURCE, which root
    # in a container often lacks.
    soft=$(prlimit --pid "$SERVER_PID" --nofile --output=SOFT --noheadings) &&
        prlimit --pid "$SERVER_PID" --nofile="$(fd_count):" ||
        { fail 'prlimit could not lower the descriptor limit'; return; }
    mark_log
    _lib_scratch hold; out=$LIB_SCRATCH
    timeout -k 2 40 python3 -c "$HOLD_PY" "$SERVER_PORT" >"$out" 2>&1 &
    LIB_BG_PIDS+=($!)
    assert_log 'accept failed: Too many open files' || return
    sleep 0.5    # 50 looks of the standby thread
    assertTrue "threads while out of descriptors: main, standby and at most 2 + 5 workers, got $(thread_count)" \
        "(($(thread_count) <= 9))"
    prlimit --pid "$SERVER_PID" --nofile="$soft:" ||
        { fail "prlimit could not raise the descriptor limit back to $soft"; return; }
    curl_get /
    assert_curl 200 'Hello World!'
}

# Out of descriptors, each worker in accept() fails, pauses 100 ms and tries again: the pool logs
# `accept failed` once a second at most (N3), not ten times a second per worker.
test_out_of_descriptors_failed_accepts_are_logged_once_a_second() {
    start_server "$SERVER" || return
    assert_failed_accepts_logged_once_a_second
}

# A client that sends its request one byte per TLS record (a slow or hostile one) is served. The
# end of the head, "\r\n\r\n", then arrives across four records, and end_of_head() must find it
# although it looks only at the new bytes and the 3 before them (the mutant that looks at the new
# bytes alone never answers).
DRIBBLE_PY='
import socket, ssl, sys
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"p" * 300 + b"\r\n\r\n":
    tls.sendall(bytes([byte]))
answer = b""
while True:
    chunk = tls.recv(4096)
    if not chunk:
        break
    answer += chunk
print(answer.split(b"\r\n")[0].decode(), answer.split(b"\r\n\r\n", 1)[-1].decode())
'

test_a_request_sent_one_byte_per_record_is_served() {
    local out
    start_server "$SERVER" --max-connections 4 || return
    _lib_scratch dribble; out=$LIB_SCRATCH
    timeout -k 2 30 python3 -c "$DRIBBLE_PY" "$SERVER_PORT" "$CERTS/ca.crt" "$CERTS/client.crt" \
        "$CERTS/client.key" >"$out" 2>&1
    assertEquals "the answer to a request sent one byte per record; the client said: $(cat "$out")" \
        'HTTP/1.1 200 OK Hello World!' "$(cat "$out")"
}

# SIGTERM while clients are connected: every thread ends (busy workers, the standby thread, and
# any worker idle or in accept()), and the server exits 0.
test_stop_with_clients_connected_exits_cleanly() {
    local status=0
    start_server "$SERVER" --max-connections 4 || return
    assertEquals 'sequential clients that got Hello World!' 3 "$(sequential_gets 3)"
    open_idle_tls && open_idle_tls || return
    STOP_TIMEOUT=5 stop_server || status=$?
    assertEquals "exit status after SIGTERM with 2 clients connected; log: $(tail -n 4 "$SERVER_LOG")" 0 "$status"
    assert_log 'Stopping: SIGTERM received'
}

# Descriptors do not grow with the number of connections served, and threads stay within main,
# the standby thread and --max-connections workers.
test_descriptors_and_threads_stay_bounded() {
    local fds
    start_server "$SERVER" --max-connections 8 || return
    assertEquals 'sequential clients that got Hello World!' 2 "$(sequential_gets 2)"
    fds=$(fd_count)
    curl_many 12 /
    assertEquals "12 parallel clients ($CURL_MANY_SUMMARY)" 12 "$CURL_MANY_OK"
    assertEquals 'sequential clients that got Hello World!' 20 "$(sequential_gets 20)"
    assertEquals 'open descriptors after 34 connections' "$fds" "$(fd_count)"
    assertTrue "threads: at most main, standby and 8 workers, got $(thread_count)" "(($(thread_count) <= 10))"
}

# cleanup_idle_clients: ends the clients open_idle_tls started (their connections close).
cleanup_idle_clients() {
    local pid
    for pid in "${LIB_BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${LIB_BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    LIB_BG_PIDS=()
}

# shellcheck source=/dev/null
. "$SHUNIT2"
