#!/usr/bin/env bash
# Chapter 02: the server requires a client certificate, and accepts one from anybody (the pitfall
# chapter 03 fixes). Run alone with `tests/run.sh test_02_mtls_server` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 02-mtls-server/server)

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }
oneTimeTearDown() { stop_shared_servers; }

# Tests that only talk to the server share one (tests that stop their server start their own).
use_server() { shared_server chapter-02 "$SERVER"; }

# whoami_identity TEXT: prints "SUBJECT SHA256" from the first /whoami JSON found in TEXT.
whoami_identity() {
    local json='"subject":"([^"]*)".*"sha256":"([^"]*)"'
    [[ $1 =~ $json ]] && printf '%s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# --- The transcript: no certificate, then ours, then one from another CA ------------------------

test_no_client_certificate_gets_no_http_answer() {
    use_server || return
    CURL_CA='' curl_get / -k
    assert_curl_fails 56 35 || return
    assert_connection_log 'handshake failed: the client sent no certificate, and one is required$'
}

# Under TLS 1.3 the client finishes its side of the handshake before the server has read its
# (empty) Certificate message, so curl learns of the refusal while reading: exit 56.
test_no_client_certificate_over_tls13_is_refused_after_the_handshake() {
    use_server || return
    curl_get / --tlsv1.3
    assert_curl_fails 56 35 || return
    assert_output_has "$CURL_ERROR" 'alert' 'curl reports the alert the server sent'
    assert_connection_log 'handshake failed: the client sent no certificate, and one is required$'
}

# Under TLS 1.2 the server refuses before its own Finished message: curl fails in the handshake,
# exit 35.
test_no_client_certificate_over_tls12_is_refused_in_the_handshake() {
    use_server || return
    curl_get / --tlsv1.2 --tls-max 1.2
    assert_curl_fails 35 56 || return
    assert_output_has "$CURL_ERROR" 'alert' 'curl reports the alert the server sent'
    assert_connection_log 'handshake failed: the client sent no certificate, and one is required$'
}

# A TLS 1.3 client sends its request right after its Finished, before it has read the server's
# verdict. Closing on those unread bytes would make the kernel send a reset that can overtake the
# alert (the client would report "EOF" or "connection reset"); the server reads them until the
# client closes (close_after_failed_handshake), so the client learns why, every time.
test_no_client_certificate_the_alert_arrives_even_when_the_client_writes_at_once() {
    local got
    use_server || return
    got=$(timeout 120 python3 - "$SERVER_PORT" "$CERTS/ca.crt" <<'PY'
import collections, socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=ca)
got = collections.Counter()
for _ in range(40):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            try:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" + b"x" * 20000)
                tls.recv(100)
                got["an answer"] += 1
            except ssl.SSLError as error:
                got[str(error.reason)] += 1
            except OSError as error:
                got[type(error).__name__] += 1
print(", ".join("%d %s" % (n, what) for what, n in sorted(got.items())))
PY
)
    assertEquals 'what 40 clients that write at once got' '40 TLSV13_ALERT_CERTIFICATE_REQUIRED' "$got"
}

test_our_client_gets_hello_world() {
    use_server || return
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!' || return
    assertEquals 'Content-Length' 12 "$(header_value Content-Length)"
    assert_connection_log 'TLSv1\.3 [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

test_our_client_over_tls12_gets_hello_world() {
    use_server || return
    TLS_CLIENT=client curl_get / --tlsv1.2 --tls-max 1.2
    assert_curl 200 'Hello World!' || return
    assert_connection_log 'TLSv1\.2 [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

test_other_ca_client_is_accepted_the_pitfall() {
    use_server || return
    TLS_CLIENT=other-client curl_get /
    assert_curl 200 'Hello World!' || return
    assert_connection_log '"GET / HTTP/1\.1" 200$'
}

# Any certificate will do, whoever issued it and whatever it says: every client fixture gets in,
# including those chapter 03 refuses. /whoami shows the server saw each one.
test_every_client_certificate_is_accepted_the_pitfall() {
    use_server || return
    local fixture issuer problems='' names='"subject":"([^"]*)","issuer":"([^"]*)"'
    while read -r fixture issuer; do
        TLS_CLIENT=$fixture curl_get /whoami
        if [[ $CURL_EXIT != 0 || $CURL_STATUS != 200 || ! $CURL_BODY =~ $names ||
              ${BASH_REMATCH[1]} != "CN=$fixture" || ${BASH_REMATCH[2]} != "$issuer" ]]; then
            problems+="$fixture: status $CURL_STATUS, curl exit $CURL_EXIT, body '$CURL_BODY'"$'\n'
        fi
    done <<'EOF'
client                 CN=mtls-by-example CA
other-client           CN=Other CA
expired-client         CN=mtls-by-example CA
not-yet-valid-client   CN=mtls-by-example CA
self-signed-client     CN=self-signed-client
server-eku-client      CN=mtls-by-example CA
leaf-signed-client     CN=client
intermediate-client    CN=mtls-by-example Intermediate CA
revoked-client         CN=mtls-by-example CA
ecdsa-client           CN=mtls-by-example CA
EOF
    assertEquals "clients not accepted with /whoami naming them (any certificate will do)" '' "$problems"
}

# --- /whoami: what the server learned from the certificate ---------------------------------------

test_whoami_describes_the_client_certificate() {
    use_server || return
    local fixture problem
    # RSA from our CA, ECDSA, and a leaf that came with its intermediate (the leaf is described).
    for fixture in client ecdsa-client intermediate-client; do
        TLS_CLIENT=$fixture curl_get /whoami
        assert_curl 200 || return
        assertEquals "$fixture: Content-Type" application/json \
            "$(header_value Content-Type | cut -d';' -f1)"
        problem=$(openssl x509 -in "$CERTS/$fixture.crt" -noout -subject -issuer -serial -startdate \
                      -enddate -fingerprint -sha256 -nameopt RFC2253 | python3 -c '
import datetime, json, sys
try:
    who = json.loads(sys.argv[1])
except ValueError as e:
    sys.exit("not JSON: %s: %r" % (e, sys.argv[1]))
keys = ["issuer", "notAfter", "notBefore", "serial", "sha256", "subject"]
if sorted(who) != keys:
    sys.exit("wanted exactly the keys %s, got %s" % (keys, sorted(who)))
# openssl x509 said "subject=CN=client", "notBefore=Nov 23 15:41:55 2026 GMT", "sha256 Fingerprint=57:01:..."
said = dict(line.rstrip("\n").split("=", 1) for line in sys.stdin)
def iso(date):
    return datetime.datetime.strptime(date, "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%dT%H:%M:%SZ")
wanted = {"subject": said["subject"], "issuer": said["issuer"], "serial": said["serial"].upper(),
          "notBefore": iso(said["notBefore"]), "notAfter": iso(said["notAfter"]),
          "sha256": said["sha256 Fingerprint"].upper()}
for key, value in wanted.items():
    if who[key] != value:
        sys.exit("%s: the server says %r, openssl x509 says %r" % (key, who[key], value))
' "$CURL_BODY" 2>&1)
        assertEquals "$fixture: /whoami against openssl x509" '' "$problem"
    done
}

# A certificate's names are chosen by whoever made it, and chapter 02 lets anyone's in: a subject
# holding a quote and a backslash comes out as RFC 2253 text (CN=a\"b\\c) inside a JSON string
# where each of those is escaped again, so /whoami stays valid JSON and names exactly that subject.
test_whoami_of_a_subject_with_a_quote_and_a_backslash_is_valid_json() {
    use_server || return
    local problem
    # -subj takes a backslash as an escape: '\\' is one backslash. The CN is a"b\c.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj '/CN=a"b\\c' \
        -addext extendedKeyUsage=clientAuth -keyout "$CERTS/quote-client.key" \
        -out "$CERTS/quote-client.crt" 2>/dev/null || { fail 'openssl could not make the certificate'; return; }
    TLS_CLIENT=quote-client curl_get /whoami
    assert_curl 200 || return
    problem=$(python3 -c '
import json, sys
try:
    who = json.loads(sys.argv[1])
except ValueError as e:
    sys.exit("not JSON: %s: %r" % (e, sys.argv[1]))
wanted = "CN=a\\\"b\\\\c"
for key in ("subject", "issuer"):
    if who.get(key) != wanted:
        sys.exit("%s: wanted %r, got %r" % (key, wanted, who.get(key)))
' "$CURL_BODY" 2>&1)
    assertEquals "/whoami of the subject a\"b\\c (body: $CURL_BODY)" '' "$problem"
}

# --- HTTP with a client certificate: the routes of chapter 01 still behave ---------------------

test_weatherforecast_with_a_client_certificate_returns_five_forecasts() {
    use_server || return
    TLS_CLIENT=client curl_get /weatherforecast
    assert_curl 200 || return
    assertEquals 'Content-Type' application/json "$(header_value Content-Type | cut -d';' -f1)"
    assertEquals "forecasts in $CURL_BODY" 5 "$(grep -o '"temperatureC"' <<<"$CURL_BODY" | wc -l)"
}

test_head_with_a_client_certificate_returns_headers_only() {
    use_server || return
    TLS_CLIENT=client raw_request 'HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n'
    assertEquals "status (response: $RAW_RESPONSE $RAW_ERROR)" 200 "$RAW_STATUS" || return
    assert_output_has "$RAW_RESPONSE" '^Content-Length: 12$' 'the headers of GET /'
    assertEquals 'bytes after the headers' '' "$RAW_BODY"
}

test_unknown_path_with_a_client_certificate_is_404() {
    use_server || return
    TLS_CLIENT=client curl_get /nope
    assert_curl 404 || return
    assert_connection_log '"GET /nope HTTP/1\.1" 404$'
}

test_post_with_a_client_certificate_is_405_with_allow_header() {
    use_server || return
    TLS_CLIENT=client curl_get / -X POST -d 'x=1'
    assert_curl 405 || return
    assertEquals 'Allow' 'GET, HEAD' "$(header_value Allow)"
}

# --- Session resumption: a resumed session keeps the client's identity --------------------------

# resumed_whoami_names_our_client S_CLIENT_ARGS...: GET /whoami with our client certificate saving
# the session, then again resuming it *without* a certificate: the server must resume (it asks
# for no certificate then) and still name our client.
resumed_whoami_names_our_client() {
    use_server || return
    local session=$SHUNIT_TMPDIR/session.$RANDOM.pem wanted
    wanted="CN=client $(fingerprint client)"
    TLS_CLIENT=client s_client_request 'GET /whoami HTTP/1.0\r\n\r\n' "$@" -sess_out "$session"
    assertEquals "first connection: HTTP status; s_client said:
$SCLIENT_OUTPUT" 200 "$SCLIENT_STATUS" || return
    assertEquals 'first connection: /whoami names our client' "$wanted" "$(whoami_identity "$SCLIENT_OUTPUT")"
    assertNotContains 'first connection: s_client' "$SCLIENT_OUTPUT" 'session id context uninitialized'

    s_client_request 'GET /whoami HTTP/1.0\r\n\r\n' "$@" -sess_in "$session"
    assertEquals "resumed connection: HTTP status; s_client said:
$SCLIENT_OUTPUT" 200 "$SCLIENT_STATUS" || return
    assertEquals "the session was resumed; s_client said:
$SCLIENT_OUTPUT" yes "$SCLIENT_REUSED"
    assertEquals 'resumed connection: /whoami names our client' "$wanted" "$(whoami_identity "$SCLIENT_OUTPUT")"
    assertNotContains 'resumed connection: s_client' "$SCLIENT_OUTPUT" 'session id context uninitialized'
    assertFalse 'the server log mentions "session id context uninitialized"' \
        "grep -qi 'session id context uninitialized' '$SERVER_LOG'"
}

test_tls13_resumed_session_keeps_the_client_identity() {
    resumed_whoami_names_our_client -tls1_3
}

test_tls12_resumed_session_when_the_client_offers_tickets_keeps_the_client_identity() {
    resumed_whoami_names_our_client -tls1_2
}

test_tls12_resumed_session_by_id_keeps_the_client_identity() {
    resumed_whoami_names_our_client -tls1_2 -no_ticket
}

# --- Robustness of chapter 01 holds ----------------------------------------------------------

# A session waits at most five minutes to be resumed (SSL_CTX_set_timeout in Part 2): a TLS 1.3
# client learns it as the ticket lifetime hint.
test_a_session_waits_at_most_five_minutes_to_be_resumed() {
    use_server || return
    assert_session_lifetime_hint 300
}

test_sigterm_with_an_mtls_client_connected_exits_0() {
    start_server "$SERVER" || return
    TLS_CLIENT=client open_idle_tls || return
    assert_stops_with_status_0
}

test_missing_cert_file_names_it() {
    run_program "$SERVER" --port "$(free_port)" --cert "$CERTS/no-such.crt" --key "$CERTS/server.key"
    assert_run 1 "$(re_escape "$CERTS/no-such.crt")"
}

# --- The demo's checks agree with the server --------------------------------------------------

test_curl_checks_script_agrees_with_chapter_02() {
    use_server || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 02 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 02 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
