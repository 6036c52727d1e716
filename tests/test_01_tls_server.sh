#!/usr/bin/env bash
# Chapter 01: an HTTPS server that proves who it is (server authentication only).
# Run alone with `tests/run.sh test_01_tls_server` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 01-tls-server/server)

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }
oneTimeTearDown() { stop_shared_servers; }

# A start-up attempt on a free port: run_program "$SERVER" --port <free> ARGS...
start_up() { run_program "$SERVER" --port "$(free_port)" "$@"; }

# --- The transcript: curl -k, then curl --cacert, then curl without either ------------------------

test_curl_k_says_hello_world() {
    start_server "$SERVER" || return
    CURL_CA='' curl_get / -k
    assert_curl 200 'Hello World!' || return
    assertEquals 'Content-Type' text/plain "$(header_value Content-Type | cut -d';' -f1)"
    assertEquals 'Content-Length' 12 "$(header_value Content-Length)"
    assertEquals 'Connection' close "$(header_value Connection)"
    assert_log '^127\.0\.0\.1:[0-9]+ TLSv1\.[23] [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

test_curl_with_cacert_verifies_the_server() {
    start_server "$SERVER" || return
    curl_get /
    assert_curl 200 'Hello World!'
}

test_curl_without_ca_fails_verification() {
    start_server "$SERVER" || return
    CURL_CA='' curl_get /
    assert_curl_fails 60 || return
    assert_output_has "$CURL_ERROR" 'certificate' 'curl explains the failure'
    assert_log '^127\.0\.0\.1:[0-9]+ handshake failed: .+' 'the server logs the refused handshake'
}

test_curl_trusting_another_ca_fails_verification() {
    start_server "$SERVER" || return
    CURL_CA=$CERTS/other-ca.crt curl_get /
    assert_curl_fails 60
}

# --- HTTP ------------------------------------------------------------------------------------------

test_weatherforecast_returns_five_forecasts_as_json() {
    start_server "$SERVER" || return
    curl_get /weatherforecast
    assert_curl 200 || return
    assertEquals 'Content-Type' application/json "$(header_value Content-Type | cut -d';' -f1)"
    local problem
    problem=$(python3 -c '
import datetime, json, sys
try:
    forecasts = json.load(sys.stdin)
except ValueError as e:
    sys.exit("not JSON: %s" % e)
if not isinstance(forecasts, list) or len(forecasts) != 5:
    sys.exit("wanted an array of 5 objects, got %r" % (forecasts,))
for f in forecasts:
    if not isinstance(f, dict) or sorted(f) != ["date", "summary", "temperatureC", "temperatureF"]:
        sys.exit("wanted keys date, temperatureC, temperatureF, summary in %r" % (f,))
    datetime.date.fromisoformat(f["date"])
    if len(f["date"]) != 10:
        sys.exit("date is not YYYY-MM-DD: %r" % f["date"])
    c, fahrenheit = f["temperatureC"], f["temperatureF"]
    if type(c) is not int or type(fahrenheit) is not int or not isinstance(f["summary"], str):
        sys.exit("wrong types in %r" % (f,))
    if fahrenheit != 32 + int(c / 0.5556):
        sys.exit("temperatureF %d is not 32 + (int)(%d / 0.5556)" % (fahrenheit, c))
' <<<"$CURL_BODY" 2>&1)
    assertEquals "weatherforecast JSON: $CURL_BODY" '' "$problem"
}

# The server never asked for a certificate, so it knows nothing about the client: /whoami answers
# 200 with the six fields chapters 02 and 03 fill in, each null.
test_whoami_knows_nothing_about_the_client() {
    start_server "$SERVER" || return
    curl_get /whoami
    assert_curl 200 || return
    assertEquals 'Content-Type' application/json "$(header_value Content-Type | cut -d';' -f1)"
    local problem
    problem=$(python3 -c '
import json, sys
try:
    who = json.load(sys.stdin)
except ValueError as e:
    sys.exit("not JSON: %s" % e)
keys = ["issuer", "notAfter", "notBefore", "serial", "sha256", "subject"]
if not isinstance(who, dict) or sorted(who) != keys or any(v is not None for v in who.values()):
    sys.exit("wanted %s, each null" % keys)
' <<<"$CURL_BODY" 2>&1)
    assertEquals "/whoami: $CURL_BODY" '' "$problem"
    assert_log '"GET /whoami HTTP/1\.1" 200$'
}

test_unknown_path_is_404() {
    start_server "$SERVER" || return
    curl_get /no-such-page
    assert_curl 404 $'Not Found\n' || return
    assertEquals 'Content-Type' text/plain "$(header_value Content-Type | cut -d';' -f1)"
    assertEquals 'Content-Length' 10 "$(header_value Content-Length)"
    assert_connection_log 'TLSv1\.[23] [A-Z0-9_-]+ "GET /no-such-page HTTP/1\.1" 404$'
}

# The query string plays no part in routing: only the path before `?` chooses the answer.
test_query_string_does_not_change_the_route() {
    start_server "$SERVER" || return
    curl_get '/?x=1'
    assert_curl 200 'Hello World!' || return
    assert_connection_log '"GET /\?x=1 HTTP/1\.1" 200$' || return
    curl_get '/?'
    assert_curl 200 'Hello World!' || return
    curl_get '/weatherforecast?days=3'
    assert_curl 200 || return
    assertEquals 'Content-Type of /weatherforecast?days=3' application/json \
        "$(header_value Content-Type | cut -d';' -f1)"
    assertEquals "forecasts in $CURL_BODY (days=3 is ignored)" 5 "$(grep -o '"date"' <<<"$CURL_BODY" | wc -l)"
    local path
    for path in '/no-such-page?x=/' '/weatherforecastx' '/weatherforecast/' '//' '/x?/'; do
        curl_get "$path"
        assert_curl 404 $'Not Found\n' || { echo "(path $path)"; return 1; }
    done
}

test_post_is_405_with_allow_header() {
    start_server "$SERVER" || return
    curl_get / -X POST -d 'x=1'
    assert_curl 405 || return
    assertEquals 'Allow' 'GET, HEAD' "$(header_value Allow)"
    assertNotNull 'Content-Length' "$(header_value Content-Length)"
}

test_malformed_request_line_is_400() {
    start_server "$SERVER" || return
    raw_request 'THIS IS NOT HTTP\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 400 "$RAW_STATUS"
    assert_output_has "$RAW_RESPONSE" '^Content-Length: ' 'the 400 response'
}

test_header_line_without_colon_is_400() {
    start_server "$SERVER" || return
    raw_request 'GET / HTTP/1.1\r\nHost: localhost\r\nthis header has no colon\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 400 "$RAW_STATUS"
}

test_request_head_over_8_kib_is_431() {
    start_server "$SERVER" || return
    curl_get / -H "X-Padding: $(head -c 9000 /dev/zero | tr '\0' a)"
    assert_curl 431 || return
    assertNotNull 'Content-Length' "$(header_value Content-Length)"
}

test_head_returns_the_headers_without_a_body() {
    start_server "$SERVER" || return
    curl_get / -I
    assert_curl 200 || return
    assertEquals 'Content-Length of GET /' 12 "$(header_value Content-Length)"
    assertEquals 'Content-Type' text/plain "$(header_value Content-Type | cut -d';' -f1)"
    raw_request 'HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 200 "$RAW_STATUS"
    assertEquals 'bytes after the headers' '' "$RAW_BODY"
}

test_http_1_0_request_is_answered() {
    start_server "$SERVER" || return
    raw_request 'GET / HTTP/1.0\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 200 "$RAW_STATUS"
    assertEquals 'body' 'Hello World!' "$RAW_BODY"
}

# --- TLS versions and addresses --------------------------------------------------------------------

test_tls13_works() {
    start_server "$SERVER" || return
    curl_get / --tlsv1.3
    assert_curl 200 'Hello World!' || return
    assert_log ' TLSv1\.3 .*"GET / HTTP/1\.1" 200$'
}

test_tls12_works() {
    start_server "$SERVER" || return
    curl_get / --tlsv1.2 --tls-max 1.2
    assert_curl 200 'Hello World!' || return
    assert_log ' TLSv1\.2 .*"GET / HTTP/1\.1" 200$'
}

test_tls11_is_refused() {
    start_server "$SERVER" || return
    local output
    # SECLEVEL=0 lets our own client offer TLS 1.1, so the refusal we see is the server's.
    output=$(timeout -k 2 10 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -servername localhost \
             -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
    assertNotEquals "openssl s_client -tls1_1 must fail: $output" 0 $?
    assert_output_has "$output" 'alert protocol version' 'the server answers with a protocol_version alert'
    assert_log '^127\.0\.0\.1:[0-9]+ handshake failed: .*(version|protocol|TLS)'
}

test_ipv6_bind_serves_https_on_ipv6() {
    if ! have_ipv6; then skip_test 'this machine has no IPv6 loopback (::1)'; return; fi
    start_server "$SERVER" --bind ::1 || return
    curl_get "https://[::1]:$SERVER_PORT/"
    assert_curl 200 'Hello World!' || return
    assert_log '"GET / HTTP/1\.1" 200$'
}

# --- Start-up errors: one sentence naming what is at fault, exit 1 at once ---------------------

test_missing_cert_file_names_it_and_says_make_certs() {
    local empty=$SHUNIT_TMPDIR/no-certs-here
    mkdir -p "$empty"
    run_program --in "$empty" "$SERVER" --port "$(free_port)"
    assert_run 1 'certs/server\.crt' 'make certs'
}

test_missing_key_file_names_it_and_says_make_certs() {
    local dir=$SHUNIT_TMPDIR/cert-but-no-key
    mkdir -p "$dir/certs"
    cp "$CERTS/server.crt" "$dir/certs/server.crt"
    run_program --in "$dir" "$SERVER" --port "$(free_port)"
    assert_run 1 'certs/server\.key' 'make certs'
}

test_missing_cert_given_with_flag_names_it() {
    start_up --cert "$CERTS/no-such.crt" --key "$CERTS/server.key"
    assert_run 1 "$(re_escape "$CERTS/no-such.crt")"
}

test_unreadable_key_file_names_it() {
    if [[ $(id -u) == 0 ]]; then skip_test 'root can read any file'; return; fi
    cp "$CERTS/server.key" "$SHUNIT_TMPDIR/unreadable.key"
    chmod 000 "$SHUNIT_TMPDIR/unreadable.key"
    start_up --cert "$CERTS/server.crt" --key "$SHUNIT_TMPDIR/unreadable.key"
    assert_run 1 "$(re_escape "$SHUNIT_TMPDIR/unreadable.key")"
}

test_cert_file_that_is_not_pem_names_it() {
    echo 'this is not a certificate' >"$SHUNIT_TMPDIR/not-pem.crt"
    start_up --cert "$SHUNIT_TMPDIR/not-pem.crt" --key "$CERTS/server.key"
    assert_run 1 "$(re_escape "$SHUNIT_TMPDIR/not-pem.crt")"
}

test_key_file_that_is_not_pem_names_it() {
    echo 'this is not a key' >"$SHUNIT_TMPDIR/not-pem.key"
    start_up --cert "$CERTS/server.crt" --key "$SHUNIT_TMPDIR/not-pem.key"
    assert_run 1 "$(re_escape "$SHUNIT_TMPDIR/not-pem.key")"
}

test_cert_given_as_key_names_the_key() {
    start_up --cert "$CERTS/server.crt" --key "$CERTS/server.crt"
    assert_run 1 "$(re_escape "$CERTS/server.crt")"
}

test_key_that_does_not_match_the_cert_names_it() {
    start_up --cert "$CERTS/server.crt" --key "$CERTS/client.key"
    assert_run 1 'match' "$(re_escape "$CERTS/client.key")"
}

test_port_in_use_names_the_port() {
    start_server "$SERVER" || return
    start_up --port "$SERVER_PORT" --cert "$CERTS/server.crt" --key "$CERTS/server.key"
    assert_run 1 "$SERVER_PORT" 'in use'
}

test_address_not_available_fails_at_once() {
    # 192.0.2.1 is TEST-NET-1: never an address of this machine.
    start_up --bind 192.0.2.1 --cert "$CERTS/server.crt" --key "$CERTS/server.key"
    assert_run 1 '192\.0\.2\.1'
}

# An unknown flag is named as unknown, also when no value follows it (not "--colour needs a value").
test_unknown_flag_prints_usage_and_exits_2() {
    run_program "$SERVER" --colour
    assert_run 2 'usage' "unknown option '--colour'"
}

test_flag_without_value_prints_usage_and_exits_2() {
    run_program "$SERVER" --cert
    assert_run 2 'usage' '--cert'
}

test_bad_port_prints_usage_and_exits_2() {
    local port
    for port in abc 70000 -1 ''; do
        run_program "$SERVER" --port "$port"
        assert_run 2 'usage' '--port' || return
    done
}

# --max-connections takes 1 to 4096 (MAX_CONNECTIONS_LIMIT): anything else is refused, naming the
# flag and the range, before the server starts.
test_bad_max_connections_prints_usage_and_exits_2() {
    local value
    for value in 0 4097 100000 abc 12abc -5 ''; do
        run_program "$SERVER" --port "$(free_port)" --max-connections "$value"
        assert_run 2 "^server: --max-connections must be a number from 1 to 4096, not '$value'$" 'usage' ||
            { echo "(value '$value')"; return 1; }
    done
}

test_max_connections_4096_is_accepted() {
    start_server "$SERVER" --max-connections 4096 || return
    curl_get /
    assert_curl 200 'Hello World!'
}

test_help_prints_usage_on_stdout_and_exits_0() {
    run_program "$SERVER" --help
    assertEquals "exit status (stderr: $RUN_STDERR)" 0 "$RUN_STATUS"
    assert_output_has "$RUN_STDOUT" 'usage' 'stdout'
    local flag
    # Each flag on a line of its own that says what it does, and each but --help in the usage line.
    for flag in --port --bind --cert --key --max-connections --help; do
        assert_output_has "$RUN_STDOUT" "^ +$flag( [A-Z]+)? +[a-z]" '--help explains every flag' || return
        [[ $flag == --help ]] ||
            assert_output_has "$RUN_STDOUT" "^usage: .*\\[${flag}[] ]" '--help: the usage line' || return
    done
    assert_output_has "$RUN_STDOUT" '--max-connections N +.*\(default 128\)' '--help gives the default'
    assertEquals 'stderr' '' "$RUN_STDERR"
}

# --- A real server: concurrency, idle clients, hostile bytes, shutdown ---------------------------

test_20_parallel_clients_all_get_200() {
    start_server "$SERVER" || return
    curl_many 20 /
    assertEquals "clients served ($CURL_MANY_SUMMARY)" 20 "$CURL_MANY_OK"
}

test_idle_tcp_connection_does_not_block_another_client() {
    start_server "$SERVER" || return
    open_idle_tcp 1 || return
    curl_get /
    assert_curl 200 'Hello World!'
}

test_idle_tls_connection_does_not_block_another_client() {
    start_server "$SERVER" || return
    open_idle_tls || return
    curl_get /
    assert_curl 200 'Hello World!'
}

# --max-connections bounds the connections served at once (a thread each): with both places held
# by silent clients, a third client waits in the listen queue, and is served once one ends.
test_a_connection_beyond_the_bound_waits_then_is_served() {
    local out curl_pid i
    start_server "$SERVER" --max-connections 2 || return
    open_idle_tls && open_idle_tls || return
    _lib_scratch waiting-curl; out=$LIB_SCRATCH
    timeout -k 2 30 curl -q -sS --noproxy '*' --max-time 25 --cacert "$CERTS/ca.crt" \
        -o "$out.body" -w '%{http_code}' "https://localhost:$SERVER_PORT/" >"$out" 2>"$out.err" &
    curl_pid=$!
    LIB_BG_PIDS+=("$curl_pid")
    sleep 1
    assertTrue 'the third client is still waiting while both places are taken' "process_running $curl_pid"
    assertEquals 'no request served while both places are taken' 0 "$(count_log '"GET / HTTP/1\.1"')"
    kill -TERM "${LIB_BG_PIDS[0]}" 2>/dev/null
    for ((i = 0; i < 100; i++)); do process_running "$curl_pid" || break; sleep 0.1; done
    wait "$curl_pid" 2>/dev/null
    assertEquals "the third client, once a place was free (curl said: $(cat "$out.err"))" \
        '200 Hello World!' "$(cat "$out") $(cat "$out.body" 2>/dev/null)"
}

test_plain_http_to_the_tls_port_gets_a_plain_400_and_is_logged() {
    start_server "$SERVER" || return
    curl_get "http://localhost:$SERVER_PORT/"
    assert_curl 400 $'This port speaks HTTPS: use https:// in the URL.\n' || return
    assertEquals 'Content-Type' text/plain "$(header_value Content-Type)"
    assertEquals 'Connection' close "$(header_value Connection)"
    assert_connection_log 'handshake failed: the client sent plain HTTP to this HTTPS port$' || return
    curl_get /
    assert_curl 200 'Hello World!'
}

test_garbage_bytes_are_logged_and_closed() {
    start_server "$SERVER" || return
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    head -c 2000 /dev/urandom >&"$fd"
    timeout 10 cat <&"$fd" >/dev/null 2>&1
    exec {fd}>&-
    assert_log '^127\.0\.0\.1:[0-9]+ handshake failed: .+' || return
    curl_get /
    assert_curl 200 'Hello World!'
}

test_sigterm_exits_0() {
    start_server "$SERVER" || return
    curl_get /
    assert_stops_with_status_0
}

test_sigint_exits_0() {
    start_server "$SERVER" || return
    curl_get /
    assert_stops_with_status_0 -INT
}

test_sigterm_with_an_idle_client_connected_exits_0() {
    start_server "$SERVER" || return
    open_idle_tcp 1 || return
    open_idle_tls || return
    assert_stops_with_status_0
}

# --- Behaviours pinned: warnings, the log's escaping, close_notify, TLS 1.2 ciphers ---------------

# A server certificate that runs out in two days, signed by the test CA: the server starts, serves,
# and warns on stderr (start_server puts it in SERVER_LOG) that after that date it is refused.
test_certificate_expiring_in_2_days_gives_a_start_up_warning() {
    local short=$SHUNIT_TMPDIR/short-lived
    openssl req -new -newkey rsa:2048 -nodes -keyout "$short.key" -subj '/CN=localhost' \
        -out "$short.csr" 2>/dev/null &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$short.ext" &&
        openssl x509 -req -in "$short.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
            -CAcreateserial -days 2 -extfile "$short.ext" -out "$short.crt" 2>/dev/null ||
        { fail 'openssl could not make the short-lived certificate'; return; }
    start_server "$SERVER" --cert "$short.crt" --key "$short.key" || return
    assert_log "^server: warning: the certificate CN=localhost in '$(re_escape "$short.crt")' expires on [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z; after that date it is refused\$" \
        'the start-up warning' || return
    curl_get /
    assert_curl 200 'Hello World!'
}

# The request line is logged between quotes: a quote, a control character or a byte >= 0x7f in it
# is logged as '?', so that a client cannot forge a log line or break the quoting.
test_request_line_with_a_quote_a_control_byte_and_a_high_byte_is_logged_with_question_marks() {
    start_server "$SERVER" || return
    raw_request 'GET /a"b\x1bc\x7fd\xffe HTTP/1.1\r\nHost: localhost\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 400 "$RAW_STATUS" || return
    assert_log '^127\.0\.0\.1:[0-9]+ TLSv1\.[23] [A-Z0-9_-]+ "GET /a\?b\?c\?d\?e HTTP/1\.1" 400$'
}

# close_notify tells the client the answer is whole: without it, the end of the TCP connection
# could be an attacker's cut (a truncation), and a strict client says so.
test_the_server_says_close_notify_after_its_answer() {
    start_server "$SERVER" || return
    assert_close_notify_after_the_answer
}

# TLS 1.2: only an ephemeral key exchange (ECDHE) with an AEAD cipher (GCM, ChaCha20-Poly1305).
test_tls12_without_ecdhe_is_refused_aes128_sha() {
    shared_server plain "$SERVER" || return
    assert_tls12_cipher_refused AES128-SHA
}

test_tls12_without_ecdhe_is_refused_even_with_gcm_aes256_gcm_sha384() {
    shared_server plain "$SERVER" || return
    assert_tls12_cipher_refused AES256-GCM-SHA384
}

test_tls12_with_ecdhe_but_cbc_and_sha1_is_refused_ecdhe_rsa_aes128_sha() {
    shared_server plain "$SERVER" || return
    assert_tls12_cipher_refused ECDHE-RSA-AES128-SHA
}

test_tls12_with_ecdhe_and_gcm_is_accepted_ecdhe_rsa_aes128_gcm_sha256() {
    shared_server plain "$SERVER" || return
    assert_tls12_cipher_accepted ECDHE-RSA-AES128-GCM-SHA256
}

# Started with stdin and stderr closed (a careless service manager, `server <&- 2>&-`), the
# server takes /dev/null for them: otherwise its listening socket or a client's could land on
# descriptor 0 or 2, and a message meant for stderr would go to a client.
test_started_with_stdin_and_stderr_closed_it_serves_and_its_log_stays_clean() {
    start_server_with_stdin_and_stderr_closed "$SERVER" || return
    assert_standard_streams_are_not_sockets || return
    curl_get /
    assert_curl 200 'Hello World!' || return
    curl_get "http://localhost:$SERVER_PORT/"
    assert_curl 400 || return
    curl_get /
    assert_curl 200 'Hello World!' || return
    assert_log '"GET / HTTP/1\.1" 200$' || return
    assert_log_is_only_request_lines
}

# Out of descriptors, accept() fails at once every time: the accept loop pauses a second after a
# failure, so the log gets a line a second, not a flood, and serving resumes once there is room.
test_out_of_descriptors_failed_accepts_are_logged_once_a_second() {
    start_server "$SERVER" || return
    assert_failed_accepts_logged_once_a_second
}

# --- The demo's checks agree with the server --------------------------------------------------

test_curl_checks_script_agrees_with_chapter_01() {
    start_server "$SERVER" || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 01 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 01 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS"
    assert_output_has "$RUN_STDOUT" "^\\\$ curl -k https://localhost:$SERVER_PORT/\$" 'the commands are shown'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
