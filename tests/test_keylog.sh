#!/usr/bin/env bash
# SSLKEYLOGFILE: every program writes its TLS secrets in the NSS key log format (as curl and the
# browsers do) when, and only when, that variable is set, so that Wireshark or tshark can decrypt a
# capture (docs/seeing-the-bytes.md). Each server and the 04 client: the warning on stderr at
# start, the five TLS 1.3 secrets of one connection under one client random, CLIENT_RANDOM under
# TLS 1.2, a file only its owner can read, and nothing at all without the variable. When tshark is
# installed, a capture of one request is decrypted with the key log and the HTTP request found.
# Run alone with `tests/run.sh test_keylog` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER_01=$(program_path 01-tls-server/server)
SERVER_02=$(program_path 02-mtls-server/server)
SERVER_03=$(program_path 03-custom-ca-validation/server)
CLIENT=$(program_path 04-client/client)
WARNING='warning: SSLKEYLOGFILE is set; TLS secrets are written to'
TLS13_LABELS=(CLIENT_HANDSHAKE_TRAFFIC_SECRET SERVER_HANDSHAKE_TRAFFIC_SECRET
              CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0 EXPORTER_SECRET)

oneTimeSetUp() {
    unset SSLKEYLOGFILE
    require_program "$SERVER_01" && require_program "$SERVER_02" && require_program "$SERVER_03" &&
        require_program "$CLIENT" && make_test_certs
}
tearDown() { unset SSLKEYLOGFILE; cleanup_test; }

# new_key_log: sets KEY_LOG to a path in a fresh directory (the file itself does not exist yet).
new_key_log() {
    _lib_scratch keylog; mkdir -p "$LIB_SCRATCH"
    KEY_LOG=$LIB_SCRATCH/keys.log
}

# start_with_key_log SERVER: starts SERVER with SSLKEYLOGFILE=KEY_LOG (a new one).
start_with_key_log() {
    new_key_log
    export SSLKEYLOGFILE=$KEY_LOG
    start_server "$1" || return 1
    unset SSLKEYLOGFILE
}

# assert_tls13_secrets FILE: FILE holds the five TLS 1.3 secrets, all for one client random of 64
# hex digits, and nothing that is not a key log line.
assert_tls13_secrets() {
    local label randoms content
    content=$(cat "$1" 2>/dev/null)
    for label in "${TLS13_LABELS[@]}"; do
        assert_output_has "$content" "^$label [0-9a-f]{64} [0-9a-f]{64,}$" "key log $1" || return 1
    done
    randoms=$(awk '{ print $2 }' "$1" | sort -u)
    assertEquals "one client random for the five secrets of one connection (key log: $content)" \
        1 "$(wc -l <<<"$randoms")" || return 1
    assertEquals "five lines for one TLS 1.3 connection (key log: $content)" 5 "$(wc -l <"$1")"
}

# assert_owner_only FILE: FILE exists with mode 0600.
assert_owner_only() {
    assertTrue "the key log $1 was created" "[ -f '$1' ]" || return 1
    assertEquals "mode of the key log (only its owner may read the secrets)" 600 "$(stat -c %a "$1")"
}

# check_server_key_log SERVER [TLS_CLIENT]: the TLS 1.3 scenario for one server.
check_server_key_log() {
    start_with_key_log "$1" || return
    assert_log "$(re_escape "$WARNING") '$(re_escape "$KEY_LOG")'" "the start-up warning" || return
    TLS_CLIENT=${2:-} curl_get / --tlsv1.3
    assert_curl 200 'Hello World!' || return
    assert_tls13_secrets "$KEY_LOG" || return
    assert_owner_only "$KEY_LOG"
}

# check_server_tls12 SERVER [TLS_CLIENT]: under TLS 1.2 the key log holds one CLIENT_RANDOM line.
check_server_tls12() {
    start_with_key_log "$1" || return
    TLS_CLIENT=${2:-} curl_get / --tls-max 1.2
    assert_curl 200 'Hello World!' || return
    assert_output_has "$(cat "$KEY_LOG" 2>/dev/null)" '^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$' \
        "key log after a TLS 1.2 connection" || return
    assertEquals "one line per TLS 1.2 connection" 1 "$(wc -l <"$KEY_LOG")"
}

# check_server_without_key_log SERVER [TLS_CLIENT]: no variable, no warning, no file.
check_server_without_key_log() {
    new_key_log
    unset SSLKEYLOGFILE
    start_server "$1" || return
    TLS_CLIENT=${2:-} curl_get /
    assert_curl 200 'Hello World!' || return
    if grep -q SSLKEYLOGFILE "$SERVER_LOG"; then fail "a warning without SSLKEYLOGFILE: $(cat "$SERVER_LOG")"; fi
    assertFalse "no key log without SSLKEYLOGFILE" "[ -e '$KEY_LOG' ]"
}

# check_warning_on_stderr SERVER: the warning goes to stderr, not to stdout (the log of requests).
# The server runs until its `Listening on` line (at most START_TIMEOUT seconds, default 20).
check_warning_on_stderr() {
    local out pid i stdout stderr ca_args=()
    new_key_log
    _lib_scratch server-stdout; out=$LIB_SCRATCH
    [[ $1 != "$SERVER_03" ]] || ca_args=(--ca "$CERTS/ca.crt")
    (cd "$ROOT" && SSLKEYLOGFILE=$KEY_LOG exec "$1" --port 0 --cert "$CERTS/server.crt" \
        --key "$CERTS/server.key" "${ca_args[@]}") >"$out" 2>"$out.err" </dev/null &
    pid=$!
    LIB_SERVER_PIDS+=("$pid")
    for ((i = 0; i < ${START_TIMEOUT:-20} * 10; i++)); do
        grep -qs '^Listening on ' "$out" && break
        process_running "$pid" || break
        sleep 0.1
    done
    stdout=$(cat "$out") stderr=$(cat "$out.err")
    assert_output_has "$stderr" "^server: $(re_escape "$WARNING")" "stderr" || return
    assert_output_has "$stdout" '^Listening on ' "stdout" || return
    if grep -q SSLKEYLOGFILE <<<"$stdout"; then fail "the warning is on stdout: $stdout"; fi
}

test_chapter_01_writes_tls13_secrets_with_warning() { check_server_key_log "$SERVER_01"; }
test_chapter_02_writes_tls13_secrets_with_warning() { check_server_key_log "$SERVER_02" client; }
test_chapter_03_writes_tls13_secrets_with_warning() { check_server_key_log "$SERVER_03" client; }

test_chapter_01_writes_client_random_under_tls12() { check_server_tls12 "$SERVER_01"; }
test_chapter_02_writes_client_random_under_tls12() { check_server_tls12 "$SERVER_02" client; }
test_chapter_03_writes_client_random_under_tls12() { check_server_tls12 "$SERVER_03" client; }

test_chapter_01_without_variable_no_warning_no_file() { check_server_without_key_log "$SERVER_01"; }
test_chapter_02_without_variable_no_warning_no_file() { check_server_without_key_log "$SERVER_02" client; }
test_chapter_03_without_variable_no_warning_no_file() { check_server_without_key_log "$SERVER_03" client; }

test_chapter_01_warning_is_on_stderr() { check_warning_on_stderr "$SERVER_01"; }
test_chapter_03_warning_is_on_stderr() { check_warning_on_stderr "$SERVER_03"; }

# The file exists before the server starts: opening it must not truncate it.
test_server_appends_to_an_existing_key_log() {
    local old_line
    old_line="CLIENT_RANDOM $(printf 'a%.0s' {1..64}) $(printf 'b%.0s' {1..96})"
    new_key_log
    echo "$old_line" >"$KEY_LOG"
    export SSLKEYLOGFILE=$KEY_LOG
    start_server "$SERVER_02" || return
    unset SSLKEYLOGFILE
    TLS_CLIENT=client curl_get / --tlsv1.3
    assert_curl 200 'Hello World!' || return
    assertEquals "the old line is kept, first" "$old_line" "$(head -n 1 "$KEY_LOG")"
    assertEquals "the old line is kept and five are added" 6 "$(wc -l <"$KEY_LOG")"
}

# An existing key log that others may read (0644) is made 0600 before a secret goes in, and the
# server says so; its content is kept.
check_readable_key_log_is_made_owner_only() {
    local server=$1 old_line
    old_line="CLIENT_RANDOM $(printf 'c%.0s' {1..64}) $(printf 'd%.0s' {1..96})"
    new_key_log
    echo "$old_line" >"$KEY_LOG" && chmod 0644 "$KEY_LOG"
    export SSLKEYLOGFILE=$KEY_LOG
    start_server "$server" || return
    unset SSLKEYLOGFILE
    assert_log "^server: warning: others could read the key log '$(re_escape "$KEY_LOG")'; it is now mode 0600\$" \
        'the start-up warning' || return
    assertEquals "mode of the key log once the server has started" 600 "$(stat -c %a "$KEY_LOG")" || return
    TLS_CLIENT=${2:-} curl_get / --tlsv1.3
    assert_curl 200 'Hello World!' || return
    assertEquals "the old line is kept, first" "$old_line" "$(head -n 1 "$KEY_LOG")" || return
    assert_owner_only "$KEY_LOG"
}

# A key log that is a symbolic link could point anywhere (another user's file, a file the server
# may write and should not): the server refuses to start, naming it, and writes nothing there.
check_symlink_key_log_is_refused() {
    local server=$1 target
    new_key_log
    target=${KEY_LOG%/*}/target.txt
    echo 'not a key log' >"$target" && ln -s "$target" "$KEY_LOG"
    export SSLKEYLOGFILE=$KEY_LOG
    local ca_args=()
    [[ $server == "$SERVER_01" ]] || ca_args=(--ca "$CERTS/ca.crt")
    run_program "$server" --port "$(free_port)" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
        "${ca_args[@]}"
    unset SSLKEYLOGFILE
    assert_run 1 "^server: cannot use the key log SSLKEYLOGFILE='$(re_escape "$KEY_LOG")': it is a symbolic link\$" ||
        return
    assertEquals 'the link target is untouched' 'not a key log' "$(cat "$target")" || return
    assertTrue 'the key log is still a symbolic link' "[ -L '$KEY_LOG' ]"
    if grep -q '^Listening on' <<<"$RUN_STDOUT"; then fail "it started: $RUN_STDOUT"; fi
}

test_chapter_01_makes_a_readable_key_log_0600_with_a_warning() {
    check_readable_key_log_is_made_owner_only "$SERVER_01"
}
test_chapter_03_makes_a_readable_key_log_0600_with_a_warning() {
    check_readable_key_log_is_made_owner_only "$SERVER_03" client
}
test_chapter_01_refuses_a_key_log_that_is_a_symlink() { check_symlink_key_log_is_refused "$SERVER_01"; }
test_chapter_03_refuses_a_key_log_that_is_a_symlink() { check_symlink_key_log_is_refused "$SERVER_03"; }

test_client_writes_tls13_secrets_with_warning() {
    start_server "$SERVER_03" || return
    new_key_log
    SSLKEYLOGFILE=$KEY_LOG run_program "$CLIENT" --ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" \
        --key "$CERTS/client.key" "https://localhost:$SERVER_PORT/"
    assert_run 0 "^client: $(re_escape "$WARNING") '$(re_escape "$KEY_LOG")'" || return
    assertEquals "response body" 'Hello World!' "$RUN_STDOUT" || return
    assert_tls13_secrets "$KEY_LOG" || return
    assert_owner_only "$KEY_LOG"
}

test_client_writes_client_random_under_tls12() {
    use_tls12_openssl_conf
    start_server "$SERVER_03" || return
    new_key_log
    OPENSSL_CONF=$TLS12_OPENSSL_CONF SSLKEYLOGFILE=$KEY_LOG run_program "$CLIENT" --ca "$CERTS/ca.crt" \
        --cert "$CERTS/client.crt" --key "$CERTS/client.key" "https://localhost:$SERVER_PORT/"
    assert_run 0 || return
    assert_output_has "$(cat "$KEY_LOG" 2>/dev/null)" '^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$' \
        "the client's key log after a TLS 1.2 connection" || return
    assert_owner_only "$KEY_LOG"
}

test_client_without_variable_no_warning_no_file() {
    start_server "$SERVER_03" || return
    new_key_log
    unset SSLKEYLOGFILE
    run_program "$CLIENT" --ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
        "https://localhost:$SERVER_PORT/"
    assert_run 0 || return
    if grep -q SSLKEYLOGFILE <<<"$RUN_STDERR"; then fail "a warning without SSLKEYLOGFILE: $RUN_STDERR"; fi
    assertFalse "no key log without SSLKEYLOGFILE" "[ -e '$KEY_LOG' ]"
}

# With tshark: capture one request to chapter 02 on the loopback interface and decrypt it with the
# server's key log, as docs/seeing-the-bytes.md shows; the HTTP request and the client's certificate must appear.
test_tshark_decrypts_a_capture_with_the_key_log() {
    require_peer tshark 'decrypting a capture with the key log (apt-get install tshark)' || return 0
    local capture tshark_pid fields i
    start_with_key_log "$SERVER_02" || return
    _lib_scratch capture.pcapng; capture=$LIB_SCRATCH
    timeout -k 2 20 tshark -q -i lo -f "tcp port $SERVER_PORT" -a duration:10 -w "$capture" \
        >"$capture.log" 2>&1 &
    tshark_pid=$!
    LIB_BG_PIDS+=("$tshark_pid")
    # tshark says "Capturing on 'Loopback: lo'" once it is ready.
    for ((i = 0; i < 100; i++)); do
        grep -qs 'Capturing on' "$capture.log" && break
        process_running "$tshark_pid" || break
        sleep 0.1
    done
    if ! grep -qs 'Capturing on' "$capture.log"; then
        if [[ ${REQUIRE_PEERS:-0} == 1 ]]; then
            fail "tshark cannot capture on lo, and REQUIRE_PEERS=1 says it must: $(head -n 3 "$capture.log")"
        else
            skip_test "tshark cannot capture on lo here (needs CAP_NET_RAW): $(head -n 3 "$capture.log")"
        fi
        return 0
    fi
    TLS_CLIENT=client curl_get /whoami
    assert_curl 200 || return
    # The capture is complete once it holds both sides' FIN (bounded: at most 10 s).
    for ((i = 0; i < 100; i++)); do
        (($(timeout 10 tshark -r "$capture" -Y 'tcp.flags.fin == 1' 2>/dev/null | wc -l) >= 2)) && break
        sleep 0.1
    done
    kill -INT "$tshark_pid" 2>/dev/null
    wait "$tshark_pid" 2>/dev/null
    fields=$(timeout 30 tshark -r "$capture" -o "tls.keylog_file:$KEY_LOG" \
             -Y 'http.request or tls.handshake.type == 11' \
             -T fields -e http.request.method -e http.request.uri -e tls.handshake.type 2>&1)
    assert_output_has "$fields" 'GET.*/whoami' "the decrypted capture" || return
    # Two Certificate messages (type 11): the server's and, once decrypted, the client's.
    assertEquals "Certificate messages seen in the decrypted capture ($fields)" 2 \
        "$(grep -o '11' <<<"$(awk -F'\t' '{ print $3 }' <<<"$fields")" | wc -l)"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
