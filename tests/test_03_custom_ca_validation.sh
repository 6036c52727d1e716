#!/usr/bin/env bash
# Chapter 03: trust only client certificates issued by our CA (--ca); 403 Forbidden for the others.
# Run alone with `tests/run.sh test_03_custom_ca_validation` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 03-custom-ca-validation/server)
OUR_CA='CN=mtls-by-example CA'

oneTimeSetUp() {
    require_program "$SERVER" && make_test_certs &&
        cat "$CERTS/ca.crl" "$CERTS/intermediate-ca.crl" >"$CERTS/all.crl"
}
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

# whoami_identity TEXT: prints "SUBJECT SHA256 trusted" from the first /whoami JSON found in TEXT
# (the last word is whatever "trusted" says).
whoami_identity() {
    local json='"subject":"([^"]*)".*"sha256":"([^"]*)","trusted":([a-z]*)'
    [[ $1 =~ $json ]] && printf '%s %s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
}

# check_clients TABLE: for each line "FIXTURE STATUS LOG LINE" of TABLE, GET / with that client
# certificate must answer STATUS (200: `Hello World!`; 403: an empty body, Content-Length: 0)
# and the server must log LOG LINE (after the client's address) for that connection. Prints one
# line per mismatch, nothing when all is well.
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
        assert_connection_log "rejected CN=other-client issued by CN=Other CA: unable to get local issuer certificate\$" ||
            return
        assert_connection_log "\"$method $path HTTP/1\\.1\" 403\$" || return
    done <<'EOF'
GET /
GET /weatherforecast
GET /whoami
GET /nope
POST /
HEAD /
EOF
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
leaf-signed-client    403  rejected CN=leaf-signed-client issued by CN=client: invalid CA certificate
")"
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
# what the intermediate CA issued.
test_with_our_ca_crl_alone_the_intermediate_client_gets_403() {
    use_server_with_ca_crl || return
    assertEquals 'intermediate-client with --crl ca.crl' '' "$(check_clients "
intermediate-client  403  rejected CN=intermediate-client issued by CN=mtls-by-example Intermediate CA: unable to get certificate CRL
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

test_whoami_says_the_client_is_trusted() {
    use_server || return
    TLS_CLIENT=client curl_get /whoami
    assert_curl 200 || return
    local problem
    problem=$(python3 -c '
import json, sys
who = json.loads(sys.argv[1])
keys = ["issuer", "notAfter", "notBefore", "serial", "sha256", "subject", "trusted"]
if sorted(who) != keys:
    sys.exit("wanted the keys %s, got %s" % (keys, sorted(who)))
if who["trusted"] is not True or who["subject"] != "CN=client" or who["sha256"] != sys.argv[2]:
    sys.exit("wanted trusted: true, CN=client and our client certificate, got %r" % who)
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
    wanted="CN=client $(fingerprint client) true"
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
test_resumed_session_of_a_rejected_client_still_gets_403() {
    use_server || return
    local variant args
    for variant in -tls1_3 -tls1_2 '-tls1_2 -no_ticket'; do
        read -r -a args <<<"$variant"
        resume_session other-client "${args[@]}"
        assertEquals "$variant first connection: status" 403 "$FIRST_STATUS"
        assertEquals "$variant resumed connection: status" 403 "$RESUMED_STATUS"
    done
    assertEquals 'rejected other-client lines in the log (two per variant)' 6 \
        "$(grep -c 'rejected CN=other-client issued by CN=Other CA: ' < <(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG"))"
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
