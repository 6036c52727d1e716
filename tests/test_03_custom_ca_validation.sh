#!/usr/bin/env bash
# Chapter 03: trust only client certificates issued by our CA (--ca); 403 Forbidden for the others.
# Run alone with `tests/run.sh test_03_custom_ca_validation` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# CHAPTER_03_PROGRAM: another server with the same contract (tests/test_05_as_chapter_03.sh runs
# this suite against chapter 05).
SERVER=$(program_path "${CHAPTER_03_PROGRAM:-03-custom-ca-validation/server}")
OUR_CA='CN=mtls-by-example CA'

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }
oneTimeTearDown() { stop_shared_servers; }

# Tests that only talk to a server share it (tests that stop their server start their own).
# start_server adds `--ca $CERTS/ca.crt` unless told otherwise.
use_server() { shared_server our-ca "$SERVER"; }
use_server_with_ca_crl() { shared_server our-ca-and-its-crl "$SERVER" --crl "$CERTS/ca.crl"; }
use_server_with_both_crls() { shared_server our-ca-and-both-crls "$SERVER" --crl "$CERTS/all.crl"; }
use_server_trusting_other_ca() { shared_server other-ca "$SERVER" --ca "$CERTS/other-ca.crt"; }

# A start-up attempt on a free port with our server certificate: run_program "$SERVER" ... ARGS...
start_up() {
    run_program "$SERVER" --port "$(free_port)" --cert "$CERTS/server.crt" --key "$CERTS/server.key" "$@"
}

# whoami_identity TEXT: prints "SUBJECT SHA256" from the first /whoami JSON found in TEXT.
whoami_identity() {
    local json='"subject":"([^"]*)".*"sha256":"([^"]*)"'
    [[ $1 =~ $json ]] && printf '%s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# check_clients TABLE: for each line "FIXTURE STATUS LOG LINE" of TABLE, GET / with that client
# certificate must answer STATUS (200: `Hello World!`; 403: an empty body, Content-Length: 0)
# and the server must log LOG LINE (after the client's address; for a 403, followed by
# `; answered 403`) for that connection. Prints one line per mismatch, nothing when all is well.
check_clients() {
    local fixture status logged
    while read -r fixture status logged; do
        [[ -n $fixture ]] || continue
        TLS_CLIENT=$fixture curl_get /
        if [[ $CURL_EXIT != 0 || $CURL_STATUS != "$status" ]] ||
           [[ $status == 200 && $CURL_BODY != 'Hello World!' ]] ||
           [[ $status == 403 && ( -n $CURL_BODY || $(header_value Content-Length) != 0 ) ]]; then
            echo "$fixture: wanted $status, got $CURL_STATUS '$CURL_BODY' (curl exit $CURL_EXIT)"
        fi
        [[ $status != 403 ]] || logged+='; answered 403'
        if ! wait_for_log "^127\\.0\\.0\\.1:$CURL_LOCAL_PORT $(re_escape "$logged")\$"; then
            echo "$fixture: no log line '$logged'; the log has: $(grep -F ":$CURL_LOCAL_PORT " "$SERVER_LOG")"
        fi
    done <<<"$1"
}

# --- The transcript: no certificate, ours, and one from another CA --------------------------------

test_no_client_certificate_is_still_refused_in_the_handshake() {
    use_server || return
    local version
    for version in 1.3 1.2; do
        curl_get / --tlsv1.2 --tls-max "$version"
        assert_curl_fails 56 35 || return
        assert_connection_log 'handshake failed: the client sent no certificate, and one is required$' \
            "TLS $version" || return
    done
}

test_our_client_gets_hello_world() {
    use_server || return
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!' || return
    assert_connection_log "trusted CN=client issued by $OUR_CA\$" || return
    assert_connection_log 'TLSv1\.3 [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

test_our_client_over_tls12_gets_hello_world() {
    use_server || return
    TLS_CLIENT=client curl_get / --tlsv1.2 --tls-max 1.2
    assert_curl 200 'Hello World!' || return
    assert_connection_log 'TLSv1\.2 [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

# The fix for chapter 02's pitfall. The handshake completes (so curl exits 0), then every route
# answers 403 with an empty body, whatever the method: trust is checked before anything else.
test_other_ca_client_gets_403_on_every_route() {
    use_server || return
    local method path args
    while read -r method path; do
        args=()
        case $method in
            POST) args=(-X POST -d 'x=1') ;;
            HEAD) args=(-I) ;;
        esac
        TLS_CLIENT=other-client curl_get "$path" "${args[@]}"
        assert_curl 403 || return
        assertEquals "$method $path: Content-Length" 0 "$(header_value Content-Length)" || return
        [[ $method == HEAD ]] || assertEquals "$method $path: body" '' "$CURL_BODY" || return
        assert_connection_log "rejected CN=other-client issued by CN=Other CA: unable to get local issuer certificate; answered 403\$" ||
            return
    done <<'EOF'
GET /
GET /weatherforecast
GET /whoami
GET /nope
POST /
HEAD /
EOF
}

# --- 403 first: a stranger gets the same empty 403, whatever it sends ----------------------------

# The requests that reach the parser's and the routes' other answers (400, 405, 404, 431) when a
# trusted client sends them, then bytes that are not HTTP, then nothing at all.
STRANGER_REQUESTS='
GET * HTTP/1.1\r\nHost: localhost\r\n\r\n
GET / HTTP/1.1\r\n\r\n
BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n
GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n
GET / HTTP/1.1\r\nHost: localhost\r\nthis header has no colon\r\n\r\n
\x01\x02garbage, and no line end
'

test_untrusted_client_gets_an_empty_403_whatever_it_sends() {
    use_server || return
    local request padding problems=''
    padding=$(head -c 9000 /dev/zero | tr '\0' a)
    while IFS= read -r request; do
        [[ -n $request ]] || continue
        TLS_CLIENT=other-client raw_request "$request"
        [[ $RAW_STATUS == 403 && -z $RAW_BODY && $RAW_RESPONSE == *$'\nContent-Length: 0\n'* ]] ||
            problems+="
  '$request': got status '$RAW_STATUS' (exit $RAW_EXIT $RAW_ERROR): $RAW_RESPONSE"
    done <<<"$STRANGER_REQUESTS
GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: $padding\r\n\r\n
"
    TLS_CLIENT=other-client raw_request ''
    [[ $RAW_STATUS == 403 && -z $RAW_BODY ]] || problems+="
  nothing sent: got status '$RAW_STATUS': $RAW_RESPONSE"
    assertEquals 'answers to other-client that are not an empty 403' '' "$problems"
    assert_still_answers_our_client
}

# A trusted client sending the same requests (but the garbage, which never ends a request head)
# gets the parser's and the routes' answers: the 403 above is the verdict on the certificate.
test_trusted_client_sending_the_same_requests_gets_other_answers() {
    use_server || return
    local request statuses=''
    while IFS= read -r request; do
        [[ -n $request && $request != '\x01'* ]] || continue
        TLS_CLIENT=client raw_request "$request"
        statuses+=" ${RAW_STATUS:-none}"
    done <<<"$STRANGER_REQUESTS"
    assertEquals 'statuses for our client' ' 400 400 405 404 400' "$statuses"
}

# The 403 is sent before the request is read, and what the client still sends is then read and
# thrown away: closing with unread bytes would make the kernel reset the connection (RST) and can
# destroy the 403 before curl reads it. 9 KB of headers is more than the server ever reads.
test_untrusted_client_with_9_kb_of_headers_gets_403_every_time() {
    use_server || return
    local i padding
    padding=$(head -c 9000 /dev/zero | tr '\0' a)
    for ((i = 0; i < 5; i++)); do
        TLS_CLIENT=other-client curl_get / -H "X-Padding: $padding"
        assert_curl 403 '' || return
        assertEquals 'Content-Length' 0 "$(header_value Content-Length)" || return
    done
}

# Many clients (Python's http.client, for one) send the whole request, body included, before they
# read a byte of the answer. Without the discarding, the server closes with their body unread,
# the kernel answers the rest with a reset, and the client's send fails before it reads the 403.
test_untrusted_client_that_sends_600_kb_before_reading_gets_403_every_time() {
    use_server || return
    local answers
    answers=$(timeout -k 2 60 python3 -c '
import socket, ssl, sys
port, certs = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/other-client.crt", certs + "/other-client.key")
for _ in range(5):
    try:
        tls = ctx.wrap_socket(socket.create_connection(("localhost", port), timeout=15),
                              server_hostname="localhost")
        tls.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 600000\r\n\r\n" + b"a" * 600000)
        print(tls.recv(65536).split(b"\r\n")[0].decode())
        tls.close()
    except (OSError, ssl.SSLError) as e:
        print("no answer: %s" % e)
' "$SERVER_PORT" "$CERTS" 2>&1)
    assertEquals 'the five answers' "$(printf 'HTTP/1.1 403 Forbidden\n%.0s' 1 2 3 4 5)" "$answers"
}

test_untrusted_client_sending_garbage_with_s_client_gets_403() {
    use_server || return
    TLS_CLIENT=other-client s_client_request '\x16\x03\x01 not HTTP at all\r\n\r\n' -quiet
    assertEquals "status; s_client said: $SCLIENT_OUTPUT" 403 "$SCLIENT_STATUS"
    assertContains 'Content-Length' "$SCLIENT_OUTPUT" 'Content-Length: 0'
}

# assert_still_answers_our_client: the server still serves a trusted client.
assert_still_answers_our_client() {
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!'
}

# --- Trust means a verified certificate --------------------------------------------------------

# scratch_server NAME PRELUDE: builds chapter 03 with PRELUDE (C lines) before its source, once,
# into $SHUNIT_TMPDIR/NAME, and prints the program's path. As in tests/test_docs.sh's scratch
# builds, the chapter compiles unchanged: the prelude redefines a call or an option.
scratch_server() {
    local program=$SHUNIT_TMPDIR/$1
    if [[ ! -x $program ]]; then
        printf '#include <openssl/ssl.h>\n%s\n#include "server.c"\n' "$2" >"$program.c" &&
            timeout 120 "${CC:-cc}" -I"$ROOT/03-custom-ca-validation" -o "$program" "$program.c" \
                -lssl -lcrypto -lpthread >"$program.log" 2>&1 || { cat "$program.log"; return 1; }
    fi
    printf '%s' "$program"
}

# The day a certificate becomes optional (no FAIL_IF_NO_PEER_CERT), a client that sends none
# finishes the handshake with OpenSSL's verdict still X509_V_OK, since nothing was checked.
# client_is_trusted() must not take that for trust.
test_no_certificate_and_x509_v_ok_is_not_trusted_when_the_certificate_is_optional() {
    local program
    program=$(scratch_server 03-certificate-optional '#undef SSL_VERIFY_FAIL_IF_NO_PEER_CERT
#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0') || { fail "scratch build failed: $program"; return; }
    start_server "$program" || return
    curl_get /whoami
    assert_curl 403 '' || return
    assert_connection_log 'rejected \(no certificate\) issued by \(nobody\): ok; answered 403$' || return
    assert_still_answers_our_client
}

# --- Sessions end with the certificate ----------------------------------------------------------

# scratch_ca ISSUER: a minimal `openssl ca` set-up signing as $CERTS/ISSUER.crt; sets SCRATCH_CA
# to its configuration file.
scratch_ca() {
    local dir=$SHUNIT_TMPDIR/ca-$1.$RANDOM
    mkdir -p "$dir" && : >"$dir/index" && echo 1000 >"$dir/crlnumber" || return 1
    printf '%s\n' '[ca]' 'default_ca = this_ca' '[this_ca]' "certificate = $CERTS/$1.crt" \
        "private_key = $CERTS/$1.key" "database = $dir/index" "crlnumber = $dir/crlnumber" \
        "new_certs_dir = $dir" 'rand_serial = yes' 'unique_subject = no' 'default_md = sha256' \
        'policy = any_name' 'default_crl_days = 30' '[any_name]' 'commonName = supplied' >"$dir/ca.cnf"
    SCRATCH_CA=$dir/ca.cnf
}

# utc_in SECONDS: the UTC time SECONDS from now in the YYMMDDHHMMSSZ form `openssl ca` reads.
utc_in() {
    python3 -c 'import datetime, sys
t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(sys.argv[1]))
print(t.strftime("%y%m%d%H%M%SZ"))' "$1"
}

# A client certificate valid for ten seconds from now: made, used for a full handshake and a
# saved session while it is valid, then resumed once it has expired. The resumed session skips
# the certificate exchange, so only the server's second look at the dates can refuse it.
test_resumed_session_after_the_certificate_expired_gets_403() {
    use_server || return
    local name=$CERTS/short-lived-client session=$SHUNIT_TMPDIR/short-lived.session i
    scratch_ca ca || { fail 'could not set up openssl ca'; return; }
    printf '%s\n' 'basicConstraints = CA:FALSE' 'keyUsage = critical, digitalSignature' \
        'extendedKeyUsage = clientAuth' >"$name.ext"
    if ! { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" &&
           openssl req -new -key "$name.key" -subj /CN=short-lived-client -out "$name.csr" &&
           openssl ca -config "$SCRATCH_CA" -batch -notext -in "$name.csr" -extfile "$name.ext" \
               -startdate "$(utc_in -60)" -enddate "$(utc_in 10)" -out "$name.crt"; } >"$name.log" 2>&1; then
        fail "could not make the short-lived certificate: $(cat "$name.log")"
        return
    fi
    TLS_CLIENT=short-lived-client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_out "$session"
    assertEquals "first connection, while the certificate is valid: $SCLIENT_OUTPUT" 200 "$SCLIENT_STATUS" || return
    # Wait, at most 30 s, until the certificate has expired.
    for ((i = 0; i < 300; i++)); do
        openssl x509 -in "$name.crt" -noout -checkend 0 >/dev/null || break
        sleep 0.1
    done
    mark_log
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$session"
    assertEquals "the session was resumed: $SCLIENT_OUTPUT" yes "$SCLIENT_REUSED" || return
    assertEquals 'resumed connection after the expiry: status' 403 "$SCLIENT_STATUS"
    assert_log 'rejected CN=short-lived-client issued by CN=mtls-by-example CA: certificate has expired \(checked again on resumption\); answered 403$'
    TLS_CLIENT=short-lived-client curl_get /
    assert_curl 403 '' || return
    assert_connection_log 'rejected CN=short-lived-client issued by CN=mtls-by-example CA: certificate has expired; answered 403$'
}

# A CRL of our CA due ten seconds from now: a session made while it is current is resumed once it
# is past due. A resumed session skips the chain check, so only the server's second check of the
# chain, on resumption, sees that the CRL can no longer be believed.
test_resumed_session_after_the_crl_expired_gets_403() {
    local crl=$SHUNIT_TMPDIR/short-lived.crl session=$SHUNIT_TMPDIR/short-lived-crl.session i
    scratch_ca ca || { fail 'could not set up openssl ca'; return; }
    openssl ca -config "$SCRATCH_CA" -batch -gencrl -crl_lastupdate "$(utc_in -60)" \
        -crl_nextupdate "$(utc_in 10)" -out "$crl" >"$crl.log" 2>&1 || { fail "$(cat "$crl.log")"; return; }
    start_server "$SERVER" --crl "$crl" || return
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_out "$session"
    assertEquals "first connection, while the CRL is current: $SCLIENT_OUTPUT" 200 "$SCLIENT_STATUS" || return
    # Wait, at most 30 s, until the CRL is past its nextUpdate.
    for ((i = 0; i < 300; i++)); do
        [[ $(utc_in 0) > $(openssl crl -in "$crl" -noout -nextupdate -dateopt iso_8601 2>/dev/null |
             sed 's/^nextUpdate=//; s/[-: ]//g; s/^20//') ]] && break
        sleep 0.1
    done
    mark_log
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$session"
    assertEquals "the session was resumed: $SCLIENT_OUTPUT" yes "$SCLIENT_REUSED" || return
    assertEquals 'resumed connection after the CRL expired: status' 403 "$SCLIENT_STATUS"
    assert_log 'rejected CN=client issued by CN=mtls-by-example CA: CRL has expired \(checked again on resumption\); answered 403$'
}

# The session lifetime bounds how long a session waits to be resumed. A TLS 1.3 client learns it
# as the ticket lifetime hint.
test_a_session_waits_at_most_five_minutes_to_be_resumed() {
    use_server || return
    assert_session_lifetime_hint 300
}

# The lifetime bounds the wait, not the age of the verdict: each TLS 1.3 resumption hands out a new
# session with a new lifetime (what the README says; the dates are checked again for that reason).
# A build with an 8-second lifetime: a session resumed after 4 s gives a session still good at 10 s,
# when the first one has run out.
test_tls13_resumption_hands_out_a_session_with_a_new_lifetime() {
    local program first=$SHUNIT_TMPDIR/first.session second=$SHUNIT_TMPDIR/second.session start i
    program=$(scratch_server 03-lifetime-8s '#define SSL_CTX_set_timeout(ctx, seconds) SSL_CTX_set_timeout(ctx, 8)') ||
        { fail "scratch build failed: $program"; return; }
    start_server "$program" || return
    start=$(date +%s)
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_out "$first"
    for ((i = 0; i < 100 && $(date +%s) < start + 4; i++)); do sleep 0.1; done
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$first" -sess_out "$second"
    assertEquals "resumed after 4 s: $SCLIENT_OUTPUT" yes "$SCLIENT_REUSED" || return
    for ((i = 0; i < 150 && $(date +%s) < start + 10; i++)); do sleep 0.1; done
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$first"
    assertEquals 'the first session after 10 s: run out' no "$SCLIENT_REUSED"
    s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$second"
    assertEquals 'the session handed out at 4 s, after 10 s: still resumed' yes "$SCLIENT_REUSED"
}

# --- A CRL that expires: a warning at start-up, then every client refused -----------------------

# crl_due FILE -crlsec N | -crldays N: FILE, a CRL from our CA (revoking nothing) due for renewal
# in N seconds or days.
crl_due() {
    scratch_ca ca && openssl ca -config "$SCRATCH_CA" -batch -gencrl "$2" "$3" -out "$1" >"$1.log" 2>&1 ||
        { fail "could not make the CRL: $(cat "$1.log")"; return 1; }
}

test_expired_crl_is_a_warning_at_start_up_and_every_client_is_refused() {
    local crl=$SHUNIT_TMPDIR/expired.crl due i
    crl_due "$crl" -crlsec 1 || return
    due=$(date -d "$(openssl crl -in "$crl" -noout -nextupdate | cut -d= -f2)" +%s)
    for ((i = 0; i < 50 && $(date +%s) <= due; i++)); do sleep 0.1; done
    start_server "$SERVER" --crl "$crl" || return
    assert_log "^server: warning: the CRL from $OUR_CA in '$(re_escape "$crl")' expired on [0-9TZ:-]+; after that date every certificate it covers is refused$" ||
        return
    assertEquals 'clients with an expired CRL' '' "$(check_clients "
client               403  rejected CN=client issued by $OUR_CA: CRL has expired (the CRL from $OUR_CA)
")"
}

test_crl_due_within_a_week_is_a_warning_at_start_up() {
    local crl=$SHUNIT_TMPDIR/due-soon.crl
    crl_due "$crl" -crldays 3 || return
    start_server "$SERVER" --crl "$crl" || return
    assert_log "^server: warning: the CRL from $OUR_CA in '$(re_escape "$crl")' expires on [0-9TZ:-]+; after that date every certificate it covers is refused$" ||
        return
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!'
}

test_crl_due_in_30_days_gives_no_warning() {
    start_server "$SERVER" --crl "$CERTS/all.crl" || return
    assertFalse "a warning in the log: $(cat "$SERVER_LOG")" "grep -q warning '$SERVER_LOG'"
}

# --- What chapter 03 makes of each client certificate (certs/README.md) -------------------------

# Each reason is OpenSSL's own words for what failed (X509_verify_cert_error_string).
test_untrusted_clients_get_403_with_the_reason_logged() {
    use_server || return
    assertEquals 'clients not refused as expected' '' "$(check_clients "
other-client          403  rejected CN=other-client issued by CN=Other CA: unable to get local issuer certificate
expired-client        403  rejected CN=expired-client issued by $OUR_CA: certificate has expired
not-yet-valid-client  403  rejected CN=not-yet-valid-client issued by $OUR_CA: certificate is not yet valid
self-signed-client    403  rejected CN=self-signed-client issued by CN=self-signed-client: self-signed certificate
server-eku-client     403  rejected CN=server-eku-client issued by $OUR_CA: unsuitable certificate purpose
leaf-signed-client    403  rejected CN=leaf-signed-client issued by CN=client: invalid CA certificate (in its chain: CN=client)
")"
}

# A stranger chooses its certificate's names: a newline or an ESC in its CN must not split the
# `rejected` log line in two (a forged line) or reach a terminal. RFC 2253 escapes them as \0A, \1B.
test_control_characters_in_a_strangers_subject_are_escaped_in_the_log() {
    use_server || return
    local cn=$'evil\nforged\x1b[31mred' key=$CERTS/control-client
    openssl req -new -newkey rsa:2048 -nodes -keyout "$key.key" -subj "/CN=$cn" -out "$key.csr" \
        2>/dev/null &&
        printf 'extendedKeyUsage=clientAuth\n' >"$key.ext" &&
        openssl x509 -req -in "$key.csr" -CA "$CERTS/other-ca.crt" -CAkey "$CERTS/other-ca.key" \
            -CAcreateserial -days 30 -extfile "$key.ext" -out "$key.crt" 2>/dev/null ||
        { fail 'openssl could not make the certificate'; return; }
    TLS_CLIENT=control-client curl_get /
    assert_curl 403 '' || return
    assert_connection_log 'rejected CN=evil\\0Aforged\\1B\[31mred issued by CN=Other CA: unable to get local issuer certificate; answered 403$' ||
        return
    assertEquals "log lines starting with 'forged' (the log: $(tail -n 5 "$SERVER_LOG"))" 0 \
        "$(grep -c '^forged' "$SERVER_LOG")"
    assertEquals 'ESC bytes in the log' 0 "$(grep -c $'\x1b' "$SERVER_LOG")"
}

# --- Closing: close_notify after the answer, a short linger after a 403 ----------------------------

test_the_server_says_close_notify_after_its_answer() {
    use_server || return
    TLS_CLIENT=client assert_close_notify_after_the_answer
}

# A stranger that got its 403 and stays silent, its connection open: the server lingers a moment
# (LINGER_MS, 1 s) for bytes still in flight, then closes; it does not wait for the client until
# the connection's deadline (10 s), which would let strangers hold its threads.
LINGER_PY='
import os, select, socket, ssl, sys, time
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                      server_hostname="localhost")
answer = b""
while True:
    try:
        chunk = tls.recv(4096)
    except ssl.SSLZeroReturnError:
        break
    if not chunk:
        break
    answer += chunk
answered = time.monotonic()
# The TLS connection is over; now wait, sending nothing, for the server to close the TCP one.
ready, _, _ = select.select([tls.fileno()], [], [], 15)
closed = ready and os.read(tls.fileno(), 1) == b""
print(answer.split(b"\r\n")[0].decode())
print("closed after %.1f s" % (time.monotonic() - answered) if closed else "still open after 15 s")
'

test_a_silent_stranger_is_closed_after_its_403_within_3_s_not_at_the_deadline() {
    use_server || return
    local output seconds
    output=$(timeout -k 2 30 python3 -c "$LINGER_PY" "$SERVER_PORT" "$CERTS/ca.crt" \
             "$CERTS/other-client.crt" "$CERTS/other-client.key" 2>&1)
    assert_output_has "$output" '^HTTP/1\.1 403 Forbidden$' 'the answer' || return
    seconds=$(sed -n 's/^closed after \([0-9.]*\) s$/\1/p' <<<"$output")
    assertNotNull "the server closed the connection (the client: $output)" "$seconds" || return
    assertTrue "closed ${seconds} s after the 403: wanted within 3 s (LINGER_MS is 1 s; the deadline, 10 s)" \
        "awk -v s=$seconds 'BEGIN { exit !(s < 3) }'"
}

# --- TLS 1.2: only ECDHE with an AEAD cipher ---------------------------------------------------------

test_tls12_without_ecdhe_is_refused_aes128_sha() {
    use_server || return
    TLS_CLIENT=client assert_tls12_cipher_refused AES128-SHA
}

test_tls12_without_ecdhe_is_refused_even_with_gcm_aes256_gcm_sha384() {
    use_server || return
    TLS_CLIENT=client assert_tls12_cipher_refused AES256-GCM-SHA384
}

test_tls12_with_ecdhe_but_cbc_and_sha1_is_refused_ecdhe_rsa_aes128_sha() {
    use_server || return
    TLS_CLIENT=client assert_tls12_cipher_refused ECDHE-RSA-AES128-SHA
}

test_tls12_with_ecdhe_and_gcm_is_accepted_ecdhe_rsa_aes128_gcm_sha256() {
    use_server || return
    TLS_CLIENT=client assert_tls12_cipher_accepted ECDHE-RSA-AES128-GCM-SHA256
}

# An intermediate CA the client sends along is used to reach our CA; ECDSA keys are as good as RSA;
# without --crl nobody asks whether a certificate was revoked.
test_trusted_clients_get_200_and_are_logged_as_trusted() {
    use_server || return
    assertEquals 'clients not accepted as expected' '' "$(check_clients "
client               200  trusted CN=client issued by $OUR_CA
intermediate-client  200  trusted CN=intermediate-client issued by CN=mtls-by-example Intermediate CA
ecdsa-client         200  trusted CN=ecdsa-client issued by $OUR_CA
revoked-client       200  trusted CN=revoked-client issued by $OUR_CA
")"
}

test_with_crl_the_revoked_client_gets_403() {
    use_server_with_ca_crl || return
    assertEquals 'clients not judged as expected with --crl ca.crl' '' "$(check_clients "
revoked-client       403  rejected CN=revoked-client issued by $OUR_CA: certificate revoked
client               200  trusted CN=client issued by $OUR_CA
ecdsa-client         200  trusted CN=ecdsa-client issued by $OUR_CA
")"
}

# With CRL checking on, every certificate needs its issuer's CRL: ca.crl alone says nothing about
# what the intermediate CA issued. The log names the CA whose CRL is missing.
test_with_our_ca_crl_alone_the_intermediate_client_gets_403_naming_the_intermediate_ca() {
    use_server_with_ca_crl || return
    assertEquals 'intermediate-client with --crl ca.crl' '' "$(check_clients "
intermediate-client  403  rejected CN=intermediate-client issued by CN=mtls-by-example Intermediate CA: unable to get certificate CRL (the CRL from CN=mtls-by-example Intermediate CA)
")"
}

# Revocation at every level (CRL_CHECK_ALL): the intermediate CA's own certificate needs our CA's
# CRL too. With only the intermediate's CRL, CRL_CHECK alone would let intermediate-client in.
test_without_our_ca_crl_the_intermediate_client_gets_403_naming_our_ca() {
    start_server "$SERVER" --crl "$CERTS/intermediate-ca.crl" || return
    assertEquals 'clients with --crl intermediate-ca.crl' '' "$(check_clients "
intermediate-client  403  rejected CN=intermediate-client issued by CN=mtls-by-example Intermediate CA: unable to get certificate CRL (the CRL from $OUR_CA)
client               403  rejected CN=client issued by $OUR_CA: unable to get certificate CRL (the CRL from $OUR_CA)
")"
}

# Our CA revoked the intermediate CA: every client it issued is refused, and the log names the
# certificate that was revoked, not the client's own.
test_revoked_intermediate_ca_gets_403_and_the_log_names_it() {
    start_server "$SERVER" --crl "$CERTS/all-intermediate-revoked.crl" || return
    assertEquals 'clients with --crl all-intermediate-revoked.crl' '' "$(check_clients "
intermediate-client  403  rejected CN=intermediate-client issued by CN=mtls-by-example Intermediate CA: certificate revoked (in its chain: CN=mtls-by-example Intermediate CA)
revoked-client       403  rejected CN=revoked-client issued by $OUR_CA: certificate revoked
client               200  trusted CN=client issued by $OUR_CA
")"
}

test_with_both_crls_the_intermediate_client_gets_200() {
    use_server_with_both_crls || return
    assertEquals 'clients not judged as expected with --crl ca.crl+intermediate-ca.crl' '' "$(check_clients "
intermediate-client  200  trusted CN=intermediate-client issued by CN=mtls-by-example Intermediate CA
revoked-client       403  rejected CN=revoked-client issued by $OUR_CA: certificate revoked
client               200  trusted CN=client issued by $OUR_CA
")"
}

# --- Trust comes from --ca, and only from there -----------------------------------------------

test_ca_flag_is_the_only_trust() {
    use_server_trusting_other_ca || return
    TLS_CLIENT=other-client curl_get /
    assert_curl 200 'Hello World!' || return
    assert_connection_log 'trusted CN=other-client issued by CN=Other CA$' || return
    TLS_CLIENT=client curl_get /
    assert_curl 403 '' || return
    assert_connection_log "rejected CN=client issued by $OUR_CA: .+"
}

# OpenSSL's default trust store (SSL_CERT_FILE, SSL_CERT_DIR) must play no part, in either direction.
test_ssl_cert_file_and_dir_add_no_trust() {
    local dir=$SHUNIT_TMPDIR/cert-dir
    mkdir -p "$dir/other" "$dir/ours"
    if ! { cp "$CERTS/other-ca.crt" "$dir/other/" && cp "$CERTS/ca.crt" "$dir/ours/" &&
           openssl rehash "$dir/other" "$dir/ours"; }; then
        fail 'could not make the hashed certificate directories'
        return
    fi

    SSL_CERT_FILE=$CERTS/other-ca.crt SSL_CERT_DIR=$dir/other start_server "$SERVER" || return
    TLS_CLIENT=other-client curl_get /
    assert_curl 403 '' || return
    assert_connection_log 'rejected CN=other-client issued by CN=Other CA: .+' || return

    SSL_CERT_FILE=$CERTS/ca.crt SSL_CERT_DIR=$dir/ours start_server "$SERVER" --ca "$CERTS/other-ca.crt" ||
        return
    TLS_CLIENT=client curl_get /
    assert_curl 403 '' || return
    assert_connection_log "rejected CN=client issued by $OUR_CA: .+"
}

# --- /whoami and the routes, for a trusted client --------------------------------------------------

# Only a trusted client gets past the 403, so /whoami describes our client's certificate.
test_whoami_describes_the_trusted_client() {
    use_server || return
    TLS_CLIENT=client curl_get /whoami
    assert_curl 200 || return
    local problem
    problem=$(python3 -c '
import json, sys
who = json.loads(sys.argv[1])
keys = ["issuer", "notAfter", "notBefore", "serial", "sha256", "subject"]
if sorted(who) != keys:
    sys.exit("wanted the keys %s, got %s" % (keys, sorted(who)))
if who["subject"] != "CN=client" or who["sha256"] != sys.argv[2]:
    sys.exit("wanted CN=client and our client certificate, got %r" % who)
' "$CURL_BODY" "$(fingerprint client)" 2>&1)
    assertEquals "/whoami: $CURL_BODY" '' "$problem"
}

test_trusted_client_still_gets_404_and_405() {
    use_server || return
    TLS_CLIENT=client curl_get /nope
    assert_curl 404 || return
    TLS_CLIENT=client curl_get / -X POST -d 'x=1'
    assert_curl 405 || return
    assertEquals 'Allow' 'GET, HEAD' "$(header_value Allow)"
}

# --- Session resumption: a resumed session keeps the verdict on the client ----------------------

# resume_session FIXTURE S_CLIENT_ARGS...: GET /whoami presenting FIXTURE's certificate and saving
# the session, then again resuming it without a certificate. Sets FIRST_STATUS, RESUMED_STATUS,
# FIRST_WHO and RESUMED_WHO (see whoami_identity); checks the second connection was resumed and
# that "session id context uninitialized" appears nowhere.
resume_session() {
    local fixture=$1 session=$SHUNIT_TMPDIR/session.$RANDOM.pem
    shift
    TLS_CLIENT=$fixture s_client_request 'GET /whoami HTTP/1.0\r\n\r\n' "$@" -sess_out "$session"
    FIRST_STATUS=$SCLIENT_STATUS FIRST_WHO=$(whoami_identity "$SCLIENT_OUTPUT")
    assertNotContains 'first connection: s_client' "$SCLIENT_OUTPUT" 'session id context uninitialized'
    s_client_request 'GET /whoami HTTP/1.0\r\n\r\n' "$@" -sess_in "$session"
    RESUMED_STATUS=$SCLIENT_STATUS RESUMED_WHO=$(whoami_identity "$SCLIENT_OUTPUT")
    assertEquals "the session was resumed; s_client said:
$SCLIENT_OUTPUT" yes "$SCLIENT_REUSED"
    assertNotContains 'resumed connection: s_client' "$SCLIENT_OUTPUT" 'session id context uninitialized'
    assertFalse 'the server log mentions "session id context uninitialized"' \
        "grep -qi 'session id context uninitialized' '$SERVER_LOG'"
}

# resumed_session_keeps_our_trusted_client S_CLIENT_ARGS...
resumed_session_keeps_our_trusted_client() {
    use_server || return
    local wanted
    wanted="CN=client $(fingerprint client)"
    resume_session client "$@"
    assertEquals 'first connection: status' 200 "$FIRST_STATUS"
    assertEquals 'first connection: /whoami' "$wanted" "$FIRST_WHO"
    assertEquals 'resumed connection: status' 200 "$RESUMED_STATUS"
    assertEquals 'resumed connection: /whoami names the same trusted client' "$wanted" "$RESUMED_WHO"
}

test_tls13_resumed_session_keeps_the_trusted_client_identity() {
    resumed_session_keeps_our_trusted_client -tls1_3
}

test_tls12_resumed_session_when_the_client_offers_tickets_keeps_the_trusted_client_identity() {
    resumed_session_keeps_our_trusted_client -tls1_2
}

test_tls12_resumed_session_by_id_keeps_the_trusted_client_identity() {
    resumed_session_keeps_our_trusted_client -tls1_2 -no_ticket
}

# A session made by a rejected certificate must not turn into a trusted one when resumed.
# A session that ended in a 403 is dropped: the stranger's next connection is a full handshake
# again (s_client offers the session, the server does not take it), and 403 again.
test_a_rejected_clients_session_is_not_resumed() {
    use_server || return
    local variant args session
    for variant in -tls1_3 -tls1_2 '-tls1_2 -no_ticket'; do
        read -r -a args <<<"$variant"
        session=$SHUNIT_TMPDIR/session.$RANDOM.pem
        TLS_CLIENT=other-client s_client_request 'GET / HTTP/1.0\r\n\r\n' "${args[@]}" -sess_out "$session"
        assertEquals "$variant first connection: status" 403 "$SCLIENT_STATUS"
        TLS_CLIENT=other-client s_client_request 'GET / HTTP/1.0\r\n\r\n' "${args[@]}" -sess_in "$session"
        assertEquals "$variant second connection: resumed" no "$SCLIENT_REUSED"
        assertEquals "$variant second connection: status" 403 "$SCLIENT_STATUS"
    done
}

# The cache holds 256 sessions: strangers' handshakes (each ending in 403) must not push a trusted
# client's session out of it.
test_300_strangers_do_not_push_a_trusted_session_out_of_the_cache() {
    use_server || return
    local session=$SHUNIT_TMPDIR/trusted-session.pem urls=() i
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_out "$session"
    assertEquals 'first connection: status' 200 "$SCLIENT_STATUS" || return
    for ((i = 0; i < 300; i++)); do urls+=("https://localhost:$SERVER_PORT/"); done
    # One curl, 300 full handshakes (--no-sessionid: no resumption between them), each a 403.
    timeout -k 2 120 curl -q -s --noproxy '*' --no-sessionid --max-time 100 --cacert "$CERTS/ca.crt" \
        --cert "$CERTS/other-client.crt" --key "$CERTS/other-client.key" -o /dev/null "${urls[@]}"
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.0\r\n\r\n' -tls1_3 -sess_in "$session"
    assertEquals 'the trusted session was resumed after 300 strangers' yes "$SCLIENT_REUSED"
    assertEquals 'resumed connection: status' 200 "$SCLIENT_STATUS"
}

# --- Start-up errors: one sentence naming the file at fault, exit 1 -------------------------------

test_missing_default_ca_file_names_it_and_says_make_certs() {
    local dir=$SHUNIT_TMPDIR/certs-but-no-ca
    mkdir -p "$dir/certs"
    cp "$CERTS/server.crt" "$CERTS/server.key" "$dir/certs/"
    run_program --in "$dir" "$SERVER" --port "$(free_port)"
    assert_run 1 'certs/ca\.crt' 'make certs'
}

test_unusable_ca_or_crl_file_is_a_start_up_error_naming_it() {
    echo 'this is not a certificate' >"$SHUNIT_TMPDIR/not-pem.crt"
    local flag file
    while read -r flag file; do
        file=${file//CERTS/$CERTS}
        start_up --ca "$CERTS/ca.crt" "$flag" "$file"
        assert_run 1 "$(re_escape "$file")" || return
        # A missing file needs no OpenSSL error queue after the sentence.
        [[ -e $file ]] || assertEquals "$flag $file: lines on stderr: $RUN_STDERR" 1 \
            "$(grep -c . <<<"$RUN_STDERR")" || return
    done <<EOF
--ca  CERTS/no-such-ca.crt
--ca  $SHUNIT_TMPDIR/not-pem.crt
--crl CERTS/no-such.crl
--crl CERTS/ca.crt
EOF
}

test_help_lists_ca_and_crl() {
    run_program "$SERVER" --help
    assertEquals "exit status (stderr: $RUN_STDERR)" 0 "$RUN_STATUS"
    assert_output_has "$RUN_STDOUT" '--ca FILE' '--help' && assert_output_has "$RUN_STDOUT" '--crl FILE' '--help'
}

# --- Robustness of chapter 01 holds ----------------------------------------------------------

test_sigterm_with_a_trusted_client_connected_exits_0() {
    start_server "$SERVER" || return
    TLS_CLIENT=client open_idle_tls || return
    assert_stops_with_status_0
}

# --- The demo's checks agree with the server --------------------------------------------------

test_curl_checks_script_agrees_with_chapter_03() {
    use_server || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 03 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 03 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS"
}

# Chapter 04's checks: the 04 client (as built in the repository) against this chapter's server.
test_curl_checks_script_agrees_with_the_04_client() {
    require_program 04-client/client || { fail '04-client/client is not built'; return 0; }
    use_server || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 04 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 04 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS" ||
        return
    assert_output_has "$RUN_STDOUT" '^Chapter 04: all 3 checks as expected\.$' 'the summary' || return
    assert_output_has "$RUN_STDOUT" "^\\\$ 04-client/client --ca .*/ca\\.crt --cert .*/client\\.crt --key .*/client\\.key https://localhost:$SERVER_PORT/\$" \
        'the commands are shown'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
