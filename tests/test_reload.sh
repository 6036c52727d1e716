#!/usr/bin/env bash
# SIGHUP reloads chapter 05's files (the lessons, 01 to 03, are restarted instead): certificate,
# key, CA and CRL. New connections get the new settings, connections in progress finish on the old
# ones, a file that does not load leaves the old settings in place with one log line naming it, a
# session made before a change is not resumed after it, and a client whose handshake spans the
# reload is judged by the new trust store.
# Each test copies the certificates into a directory of its own and changes files there.
# Run alone with `tests/run.sh test_reload` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 05-production-server/server)
REQUEST='GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }

# start_05 [crl]: chapter 05's server reading its files from a fresh copy of the certificates,
# FILES (so the test can change them), with --crl FILES/ca.crl when asked; TLS_CLIENT=client.
start_05() {
    _lib_scratch files; FILES=$LIB_SCRATCH
    mkdir -p "$FILES" && cp "$CERTS"/* "$FILES"/
    TLS_CLIENT=client
    local args=(--port 0 --cert "$FILES/server.crt" --key "$FILES/server.key" --ca "$FILES/ca.crt")
    [[ ${1:-} != crl ]] || args+=(--crl "$FILES/ca.crl")
    start_server "$SERVER" "${args[@]}"
}

# reload PATTERN: sends SIGHUP and waits for the log line it causes, which must match PATTERN.
reload() {
    mark_log
    kill -HUP "$SERVER_PID"
    assert_log '^Reload' 'the log line of a reload' || return
    assert_log "$1" 'the reload' || return
    assertEquals "log lines of one reload: $(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG")" \
        1 "$(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG" | wc -l)"
}

# served_subject: GET / with openssl s_client; prints the subject of the certificate the server
# sent and the HTTP status, e.g. "CN = localhost 200".
served_subject() {
    s_client_request "$REQUEST"
    printf '%s %s' "$(sed -n 's/^subject=//p' <<<"$SCLIENT_OUTPUT" | head -n 1)" "${SCLIENT_STATUS:-none}"
}

# --- A new certificate ------------------------------------------------------------------------

test_sighup_serves_the_new_server_certificate() {
    start_05 || return
    assertEquals 'before the reload' 'CN = localhost 200' "$(served_subject)"
    cp "$CERTS/ecdsa-server.crt" "$FILES/server.crt"
    cp "$CERTS/ecdsa-server.key" "$FILES/server.key"
    reload "^Reloaded: new contents in '$FILES/server\.crt', '$FILES/server\.key'"
    assertEquals 'after the reload' 'CN = ecdsa-server 200' "$(served_subject)"
}

test_sighup_with_no_file_changed_keeps_the_settings_and_sessions() {
    local session
    start_05 || return
    _lib_scratch session; session=$LIB_SCRATCH
    s_client_request "$REQUEST" -sess_out "$session"
    assertEquals 'first connection' 200 "$SCLIENT_STATUS"
    reload '^Reloaded: no file changed'
    s_client_request "$REQUEST" -sess_in "$session"
    assertEquals 'status after the reload' 200 "$SCLIENT_STATUS"
    assertEquals 'the session from before the reload is resumed' yes "$SCLIENT_REUSED"
}

# A reload that finds a new certificate starts with an empty session cache.
test_a_session_from_before_a_new_certificate_is_not_resumed() {
    local session
    start_05 || return
    _lib_scratch session; session=$LIB_SCRATCH
    s_client_request "$REQUEST" -sess_out "$session"
    assertEquals 'first connection' 200 "$SCLIENT_STATUS"
    cp "$CERTS/ecdsa-server.crt" "$FILES/server.crt"
    cp "$CERTS/ecdsa-server.key" "$FILES/server.key"
    reload '^Reloaded: new contents'
    s_client_request "$REQUEST" -sess_in "$session"
    assertEquals 'after the reload, a full handshake' no "$SCLIENT_REUSED"
    assertEquals 'status after the reload' 200 "$SCLIENT_STATUS"
}

# --- A new CA, a new CRL, and no session outlives either -------------------------------------

test_sighup_trusts_a_new_ca_and_refuses_the_old() {
    start_05 || return
    TLS_CLIENT=other-client curl_get /
    assert_curl 403 ''
    cp "$CERTS/other-ca.crt" "$FILES/ca.crt"
    reload "^Reloaded: new contents in '$FILES/ca\.crt'"
    TLS_CLIENT=other-client curl_get /
    assert_curl 200 'Hello World!'
    TLS_CLIENT=client curl_get /
    assert_curl 403 ''
    assert_connection_log 'rejected CN=client issued by CN=mtls-by-example CA: .+'
}

# A resumed handshake skips the client's certificate: the session carries the old verdict. A new
# context has an empty session cache, so after a change of CA the client must prove itself again.
test_a_session_from_before_a_ca_change_is_not_resumed() {
    local session
    start_05 || return
    _lib_scratch session; session=$LIB_SCRATCH
    s_client_request "$REQUEST" -sess_out "$session"
    assertEquals 'first connection' 200 "$SCLIENT_STATUS"
    s_client_request "$REQUEST" -sess_in "$session"
    assertEquals 'before the change, the session is resumed' yes "$SCLIENT_REUSED"
    # Our CA and another: the client is still trusted, only the trust store changed.
    cat "$CERTS/ca.crt" "$CERTS/other-ca.crt" >"$FILES/ca.crt"
    reload "^Reloaded: new contents in '$FILES/ca\.crt'"
    s_client_request "$REQUEST" -sess_in "$session"
    assertEquals 'after the change, a full handshake' no "$SCLIENT_REUSED"
    assertEquals 'status after the change' 200 "$SCLIENT_STATUS"
}

# With the CRL replaced by one from another CA, our CA's CRL is missing: every client is refused,
# also one holding a session from before the change (a resumed one would still get 200).
test_a_session_from_before_a_crl_change_is_not_resumed() {
    local session
    start_05 crl || return
    _lib_scratch session; session=$LIB_SCRATCH
    s_client_request "$REQUEST" -sess_out "$session"
    assertEquals 'first connection' 200 "$SCLIENT_STATUS"
    cp "$CERTS/intermediate-ca.crl" "$FILES/ca.crl"
    reload "^Reloaded: new contents in '$FILES/ca\.crl'"
    s_client_request "$REQUEST" -sess_in "$session"
    assertEquals 'after the change, a full handshake' no "$SCLIENT_REUSED"
    assertEquals 'status after the change (no CRL from our CA)' 403 "$SCLIENT_STATUS"
}

# --- Broken files keep the old settings, and the log names the file ---------------------------

# assert_reload_refused FILE PATTERN: after the test broke FILE, a reload fails with one log line
# that names FILE and matches PATTERN; the server still serves its old certificate.
assert_reload_refused() {
    reload "^Reload failed, still serving with the previous files: .*'$FILES/$1'.*$2" || return
    assertEquals "after the failed reload ($1), still the old certificate" \
        'CN = localhost 200' "$(served_subject)"
}

test_a_missing_certificate_file_keeps_the_old_settings() {
    start_05 || return
    mv "$FILES/server.crt" "$FILES/moved.crt"
    assert_reload_refused server.crt 'No such file or directory'
}

test_a_certificate_that_is_not_pem_keeps_the_old_settings() {
    start_05 || return
    echo 'not a certificate' >"$FILES/server.crt"
    assert_reload_refused server.crt 'does not hold a usable PEM certificate \(no start line\)$'
}

test_a_key_that_does_not_match_keeps_the_old_settings() {
    start_05 || return
    cp "$CERTS/ecdsa-server.key" "$FILES/server.key"
    assert_reload_refused server.key 'does not match'
    # Put right, the files are what the server runs with: nothing to reload.
    cp "$CERTS/server.key" "$FILES/server.key"
    reload '^Reloaded: no file changed'
}

test_a_ca_file_that_is_not_pem_keeps_the_old_settings() {
    start_05 || return
    echo 'not a CA' >"$FILES/ca.crt"
    assert_reload_refused ca.crt 'CA certificate'
    TLS_CLIENT=other-client curl_get /
    assert_curl 403 ''
}

test_a_crl_that_is_not_pem_keeps_the_old_settings() {
    start_05 crl || return
    echo 'not a CRL' >"$FILES/ca.crl"
    assert_reload_refused ca.crl 'revocation list'
    TLS_CLIENT=revoked-client curl_get /
    assert_curl 403 ''
}

# --- Connections in progress ------------------------------------------------------------------

# A client that completed its handshake and sent half its request before the reload finishes it
# after: its connection keeps the context it started with.
IN_FLIGHT_PY='
import socket, ssl, sys, os, time
port, ca, cert, key, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
print("ready", tls.getpeercert()["subject"][0][0][1], flush=True)
for _ in range(200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
tls.sendall(b"Connection: close\r\n\r\n")
answer = b""
while True:
    chunk = tls.recv(4096)
    if not chunk:
        break
    answer += chunk
print(answer.split(b"\r\n")[0].decode(), answer.split(b"\r\n\r\n", 1)[-1].decode(), flush=True)
'

# Started with stdin and stderr closed, chapter 05 takes /dev/null for them; reloads, which open
# every file again, then find no hole at 0 or 2 either: every client before and after is served.
test_started_with_stdin_and_stderr_closed_reloads_and_serves_with_a_clean_log() {
    local i
    TLS_CLIENT=client
    start_server_with_stdin_and_stderr_closed "$SERVER" || return
    assert_standard_streams_are_not_sockets || return
    for i in 1 2 3; do
        curl_get /
        assert_curl 200 'Hello World!' || return
        kill -HUP "$SERVER_PID"
        wait_for_log_count "$i" '^Reloaded' || { fail "no log line for reload $i: $(cat "$SERVER_LOG")"; return; }
    done
    curl_get /
    assert_curl 200 'Hello World!' || return
    assert_standard_streams_are_not_sockets || return
    assert_log_is_only_request_lines
}

test_a_connection_in_progress_survives_the_reload() {
    local out i
    start_05 || return
    _lib_scratch in-flight; out=$LIB_SCRATCH
    timeout -k 2 30 python3 -c "$IN_FLIGHT_PY" "$SERVER_PORT" "$CERTS/ca.crt" "$CERTS/client.crt" \
        "$CERTS/client.key" "$out.go" >"$out" 2>&1 &
    LIB_BG_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do grep -qs ready "$out" && break; sleep 0.1; done
    assertEquals 'the client in progress, before the reload' 'ready localhost' "$(head -n 1 "$out")"
    cp "$CERTS/ecdsa-server.crt" "$FILES/server.crt"
    cp "$CERTS/ecdsa-server.key" "$FILES/server.key"
    reload '^Reloaded: new contents'
    assertEquals 'a new client, after the reload' 'CN = ecdsa-server 200' "$(served_subject)"
    touch "$out.go"
    for ((i = 0; i < 100; i++)); do (($(wc -l <"$out") >= 2)) && break; sleep 0.1; done
    assertEquals "the client in progress finished its request after the reload; it said: $(cat "$out")" \
        'HTTP/1.1 200 OK Hello World!' "$(sed -n 2p "$out")"
}

# Many reloads while clients connect: every client is served, and the server keeps running.
test_reloads_while_clients_connect() {
    local i
    start_05 || return
    for ((i = 0; i < 5; i++)); do
        cp "$CERTS/ecdsa-server.crt" "$FILES/server.crt"; cp "$CERTS/ecdsa-server.key" "$FILES/server.key"
        kill -HUP "$SERVER_PID"
        curl_many 4 /
        assertEquals "round $i: parallel clients during reloads ($CURL_MANY_SUMMARY)" 4 "$CURL_MANY_OK"
        cp "$CERTS/server.crt" "$FILES/server.crt"; cp "$CERTS/server.key" "$FILES/server.key"
        kill -HUP "$SERVER_PID"
    done
    curl_get /
    assert_curl 200 'Hello World!'
}

# --- A handshake that spans the reload ---------------------------------------------------------

# The client sends its ClientHello and reads the server's answer, then waits (told READY) until
# the file GO exists before it sends its certificate: its chain is checked by the context its
# connection started with, after the reload. Prints the status line of the answer.
SPANNING_PY='
import socket, ssl, sys, os, time
port, ca, cert, key, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
def handshake_step():
    try:
        tls.do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False
handshake_step()
sock.sendall(outgoing.read())          # the ClientHello
while not handshake_step():            # the server flight, up to its Finished
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit("closed during the handshake")
    incoming.write(chunk)
held = outgoing.read()                 # our Certificate, CertificateVerify and Finished
print("ready", flush=True)
for _ in range(200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
sock.sendall(held)
tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
sock.sendall(outgoing.read())
answer = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    incoming.write(chunk)
    try:
        while True:
            data = tls.read(65536)
            if not data:
                break
            answer += data
    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
        pass
print(answer.split(b"\r\n")[0].decode(), flush=True)
'

# A connection that began before the reload, and sends its certificate after it, is judged by the
# new trust store: here the new CA no longer vouches for the client, so the answer is 403.
test_a_handshake_that_spans_a_ca_change_is_judged_by_the_new_ca() {
    local out i
    start_05 || return
    _lib_scratch spanning; out=$LIB_SCRATCH
    timeout -k 2 30 python3 -c "$SPANNING_PY" "$SERVER_PORT" "$CERTS/ca.crt" "$CERTS/client.crt" \
        "$CERTS/client.key" "$out.go" >"$out" 2>&1 &
    LIB_BG_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do grep -qs ready "$out" && break; sleep 0.1; done
    assertEquals 'the client, waiting with its certificate' ready "$(head -n 1 "$out")"
    cp "$CERTS/other-ca.crt" "$FILES/ca.crt"
    reload "^Reloaded: new contents in '$FILES/ca\\.crt'"
    touch "$out.go"
    for ((i = 0; i < 100; i++)); do (($(wc -l <"$out") >= 2)) && break; sleep 0.1; done
    assertEquals "the answer after the reload; the client said: $(cat "$out")" \
        'HTTP/1.1 403 Forbidden' "$(sed -n 2p "$out")"
    assert_log 'rejected CN=client issued by CN=mtls-by-example CA: .+ \(checked again on reload\); answered 403$'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
