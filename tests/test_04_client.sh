#!/usr/bin/env bash
# Chapter 04: the client that checks the server's certificate against our CA only, and presents its
# own certificate when asked. Against chapters 01 to 03, every server fixture of certs/, and
# stand-in servers that misbehave (silent, not TLS, never answering, answering what the client
# must refuse: other HTTP versions, two lengths, a cut body, an unasked-for 101, old TLS, alerts),
# `openssl s_server` offering TLS 1.2 suites without ECDHE and AEAD, and the SSLKEYLOGFILE file's
# guards (no symbolic link, mode 0600).
# Run alone with `tests/run.sh test_04_client` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

CLIENT=$(program_path 04-client/client)
SERVER_01=$(program_path 01-tls-server/server)
SERVER_02=$(program_path 02-mtls-server/server)
SERVER_03=$(program_path 03-custom-ca-validation/server)

oneTimeSetUp() {
    require_program "$CLIENT" && require_program "$SERVER_01" && require_program "$SERVER_02" &&
        require_program "$SERVER_03" && make_test_certs && use_tls12_openssl_conf
}
oneTimeTearDown() { stop_shared_servers; }

# The chapter servers, started once and shared by the tests that only talk to them.
use_chapter_01() { shared_server chapter-01 "$SERVER_01"; }
use_chapter_02() { shared_server chapter-02 "$SERVER_02"; }
use_chapter_03() { shared_server chapter-03 "$SERVER_03"; }
# use_chapter_01_with FIXTURE: chapter 01 serving $CERTS/FIXTURE.crt (e.g. expired-server).
use_chapter_01_with() { shared_server "chapter-01-$1" "$SERVER_01" --cert "$CERTS/$1.crt" --key "$CERTS/$1.key"; }

# client [ARGS...] URL: runs the 04 client (run_program: RUN_STATUS, RUN_STDOUT, RUN_STDERR),
# trusting $CERTS/ca.crt unless ARGS hold --ca, and presenting $CERTS/$TLS_CLIENT.crt when
# TLS_CLIENT names a fixture. A URL that starts with / means https://localhost:SERVER_PORT/....
client() {
    local args=("$@") extra=()
    if [[ ${args[-1]} == /* ]]; then args[-1]=https://localhost:$SERVER_PORT${args[-1]}; fi
    has_flag --ca "$@" || extra+=(--ca "$CERTS/ca.crt")
    [[ -z ${TLS_CLIENT:-} ]] || extra+=(--cert "$CERTS/$TLS_CLIENT.crt" --key "$CERTS/$TLS_CLIENT.key")
    run_program "$CLIENT" "${extra[@]}" "${args[@]}"
}

# The summary line of a verified answer, as a pattern: summary 'HTTP/1.1 200 OK' [CN] [CA FILE].
summary() {
    printf '^client: %s; TLSv1\\.[23] [A-Z0-9_-]+; server %s verified by %s$' "$(re_escape "$1")" \
        "$(re_escape "${2:-CN=localhost}")" "$(re_escape "${3:-$CERTS/ca.crt}")"
}

# assert_refused EXIT SENTENCE: the last client run exited with EXIT, printed nothing on stdout,
# and its stderr is exactly `client: SENTENCE` (CA stands for $CERTS/ca.crt).
assert_refused() {
    local sentence=${2//CA FILE/$CERTS/ca.crt}
    assert_run "$1" "^client: $(re_escape "$sentence")\$" || return 1
    assertEquals 'stderr is one line' 1 "$(grep -c '' <<<"${RUN_STDERR%$'\n'}")" || return 1
    assertEquals 'nothing on stdout' '' "$RUN_STDOUT"
}

# check_urls TABLE: for each line "HOST EXIT SENTENCE" of TABLE, the client asks
# https://HOST:SERVER_PORT/ and must exit with EXIT; for 0, print `Hello World!` and the summary,
# else print exactly `client: SENTENCE` ("CA FILE" stands for $CERTS/ca.crt). Prints one line per
# mismatch, nothing when all is well.
check_urls() {
    local host code sentence wanted
    while read -r host code sentence; do
        [[ -n $host ]] || continue
        client "https://$host:$SERVER_PORT/"
        sentence=${sentence//CA FILE/$CERTS/ca.crt}
        wanted="exit $code and 'client: $sentence'"
        [[ $code != 0 ]] || wanted="exit 0, 'Hello World!' and the summary"
        if [[ $RUN_STATUS != "$code" ]] ||
           { [[ $code == 0 ]] && ! [[ $RUN_STDOUT == 'Hello World!' && $RUN_STDERR =~ ^client:\ HTTP/1\.1\ 200\ OK ]]; } ||
           { [[ $code != 0 ]] && [[ ${RUN_STDERR%$'\n'} != "client: $sentence" || -n $RUN_STDOUT ]]; }; then
            echo "https://$host/: wanted $wanted; got exit $RUN_STATUS, stdout '$RUN_STDOUT', stderr '${RUN_STDERR%$'\n'}'"
        fi
    done <<<"$1"
}

# --- Against the chapters: what the second article's HttpClient does -----------------------------

test_chapter_01_answers_with_or_without_a_client_certificate() {
    use_chapter_01 || return
    client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
    TLS_CLIENT=client client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_chapter_02_without_a_certificate_is_refused_with_a_hint() {
    use_chapter_02 || return
    client /
    assert_refused 4 'TLS handshake failed: the server requires a client certificate; pass --cert and --key' ||
        return
    assert_log 'handshake failed: the client sent no certificate'
}

test_chapter_02_with_our_certificate_says_hello() {
    use_chapter_02 || return
    TLS_CLIENT=client client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_chapter_02_shows_who_we_are_on_whoami() {
    use_chapter_02 || return
    TLS_CLIENT=client client /whoami
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assert_output_has "$RUN_STDOUT" '^\{"subject":"CN=client","issuer":"CN=mtls-by-example CA",' 'the body'
}

test_chapter_03_with_our_certificate_says_hello() {
    use_chapter_03 || return
    TLS_CLIENT=client client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
    assertEquals 'stderr is the summary line alone' 1 "$(grep -c '' <<<"${RUN_STDERR%$'\n'}")"
    assert_log 'trusted CN=client issued by CN=mtls-by-example CA$'
}

test_chapter_03_with_another_ca_certificate_exits_1_showing_403() {
    use_chapter_03 || return
    TLS_CLIENT=other-client client /
    assert_run 1 "$(summary 'HTTP/1.1 403 Forbidden')" || return
    assertEquals 'the 403 has an empty body' '' "$RUN_STDOUT"
    assert_log 'rejected CN=other-client issued by CN=Other CA'
}

test_chapter_03_without_a_certificate_is_refused_with_a_hint() {
    use_chapter_03 || return
    client /
    assert_refused 4 'TLS handshake failed: the server requires a client certificate; pass --cert and --key'
}

test_the_hint_is_the_same_under_tls12_and_tls13() {
    # TLS 1.2 refuses in the handshake; TLS 1.3 only on the first read after it (see chapter 02).
    local chapter
    for chapter in use_chapter_02 use_chapter_03; do
        "$chapter" || return
        client /
        assert_refused 4 'TLS handshake failed: the server requires a client certificate; pass --cert and --key' ||
            return
        OPENSSL_CONF=$TLS12_OPENSSL_CONF client /
        assert_refused 4 'TLS handshake failed: the server requires a client certificate; pass --cert and --key' ||
            return
        assert_log ' handshake failed: the client sent no certificate' || return
    done
}

test_tls12_works_with_our_certificate() {
    use_chapter_03 || return
    OPENSSL_CONF=$TLS12_OPENSSL_CONF TLS_CLIENT=client client /
    assert_run 0 '^client: HTTP/1\.1 200 OK; TLSv1\.2 ECDHE-RSA-' || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_a_chain_file_sends_its_intermediate_too() {
    # intermediate-client.crt holds the leaf, then the intermediate CA; chapter 03 trusts only
    # ca.crt, so it needs both.
    use_chapter_03 || return
    TLS_CLIENT=intermediate-client client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assert_log 'trusted CN=intermediate-client issued by CN=mtls-by-example Intermediate CA$'
}

test_ecdsa_client_certificate_is_accepted() {
    use_chapter_03 || return
    TLS_CLIENT=ecdsa-client client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

# --- HTTP: status, method, body ------------------------------------------------------------------

test_head_prints_the_summary_and_no_body() {
    use_chapter_03 || return
    TLS_CLIENT=client client --method HEAD /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'no body for HEAD' '' "$RUN_STDOUT"
    assert_log '"HEAD / HTTP/1\.1" 200$'
}

test_weatherforecast_body_is_printed_whole() {
    use_chapter_01 || return
    client /weatherforecast
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    local count
    count=$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' <<<"$RUN_STDOUT" 2>&1)
    assertEquals "forecasts in the body ($RUN_STDOUT)" 5 "$count"
}

test_unknown_path_exits_1_showing_404() {
    use_chapter_01 || return
    client /no-such-page
    assert_run 1 "$(summary 'HTTP/1.1 404 Not Found')"
}

# --- The response: what the client accepts, and what it refuses (stand-in server, mode canned) --

test_http_1_0_response_is_accepted() {
    start_stand_in canned || return
    client /http-1.0
    assert_run 0 "$(summary 'HTTP/1.0 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_status_line_of_another_http_version_is_refused() {
    # HTTP/2.0 is binary and HTTP/0.9 has no status line at all: a line that claims either (or a
    # version that does not exist) cannot be read as HTTP/1.x.
    start_stand_in canned || return
    local version
    for version in 2.0 0.9 1.2; do
        client "/http-$version"
        assert_refused 1 "the server's response is not valid HTTP: it is not HTTP/1.0 or HTTP/1.1, the only versions this client speaks" ||
            return
    done
}

test_response_that_is_not_http_is_refused() {
    start_stand_in canned || return
    client /not-http
    assert_refused 1 "the server's response is not valid HTTP: it does not start with HTTP/"
}

test_two_different_content_lengths_are_refused() {
    # 5 or 12 bytes? Reading either would let the server smuggle a second answer into the body.
    start_stand_in canned || return
    client /two-lengths
    assert_refused 1 "the server's response is not valid HTTP: it has two different Content-Length headers" ||
        return
    client /same-length-twice
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'the same length twice is fine: body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_transfer_encoding_is_refused() {
    start_stand_in canned || return
    client /chunked
    assert_refused 1 'the server sent its body with a Transfer-Encoding (such as chunked), which this client does not decode'
}

test_body_over_16_mib_is_refused_before_it_is_read() {
    start_stand_in canned || return
    client /too-long
    assert_refused 1 'the response body (16777217 bytes) is larger than the 16 MiB this client accepts'
}

test_body_without_length_ends_with_close_notify() {
    start_stand_in canned || return
    client /no-length
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_body_without_length_cut_without_close_notify_is_refused() {
    # Without a length, only TLS's close_notify says the body is whole; a TCP close could be an
    # attacker cutting it short. The bytes that arrived are on stdout, and exit 3 says not to trust them.
    start_stand_in canned || return
    client /no-length-no-close-notify
    assert_run 3 '^client: the server closed the connection without a TLS close_notify, so the body \(12 bytes so far\) may be incomplete$' ||
        return
    assertEquals 'stderr is one line' 1 "$(grep -c '' <<<"${RUN_STDERR%$'\n'}")"
    assertEquals 'what arrived, on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_204_and_304_have_no_body_whatever_their_headers_say() {
    # The stand-in keeps the connection open after the head: a client that waited for a body
    # would time out.
    start_stand_in canned || return
    client --timeout 3 /204
    assert_run 0 "$(summary 'HTTP/1.1 204 No Content')" || return
    assertEquals '204: no body' '' "$RUN_STDOUT"
    client --timeout 3 /304   # with Content-Length: 12, the size of what did not change
    assert_run 1 "$(summary 'HTTP/1.1 304 Not Modified')" || return
    assertEquals '304: no body' '' "$RUN_STDOUT"
}

test_interim_103_is_skipped_for_the_answer_after_it() {
    start_stand_in canned || return
    client /103
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_unasked_for_101_is_refused_not_skipped() {
    # The stand-in switches "to h2c", then sends what looks like a 200: a client that skipped the
    # 101 as interim news would print it as the answer.
    start_stand_in canned || return
    client /101
    assert_refused 1 'the server switched to another protocol (HTTP/1.1 101 Switching Protocols), which this client never asked for'
}

# --- What --verbose shows -------------------------------------------------------------------------

test_verbose_shows_the_chain_and_each_verification_step() {
    use_chapter_03 || return
    TLS_CLIENT=client client --verbose /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    local line
    for line in '* connecting to 127.0.0.1 port ' \
                '* verify depth 1: CN=mtls-by-example CA: ok' \
                '* verify depth 0: CN=localhost: ok' \
                '* the server asks for a client certificate: sending CN=client' \
                '* server certificate 0: subject CN=localhost' \
                '*   issuer CN=mtls-by-example CA' \
                '*   names DNS:localhost, IP:127.0.0.1, IP:::1' \
                '* TLS handshake done: TLSv1.3, ' \
                '* sending: GET / HTTP/1.1' \
                '* response: HTTP/1.1 200 OK'; do
        assert_output_has "$RUN_STDERR" "^$(re_escape "$line")" '--verbose' || return
    done
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

test_verbose_shows_which_check_failed() {
    use_chapter_01_with expired-server || return
    client --verbose /
    assert_run 4 '^\* verify depth 0: CN=expired-server: certificate has expired$' \
        '^client: server certificate verification failed: certificate has expired \(CN=expired-server\)$'
}

test_verbose_says_when_the_server_asks_and_we_have_no_certificate() {
    use_chapter_02 || return
    client --verbose /
    assert_run 4 '^\* the server asks for a client certificate, and we have none$' \
        '^client: TLS handshake failed: the server requires a client certificate; pass --cert and --key$'
}

# --- Addresses and names: SNI, Host, IPv6 ---------------------------------------------------------

test_ipv6_literal_url_works() {
    if ! have_ipv6; then skip_test 'this machine has no IPv6 loopback (::1)'; return; fi
    start_server "$SERVER_01" --bind ::1 || return
    client "https://[::1]:$SERVER_PORT/"
    assert_run 0 "$(summary 'HTTP/1.1 200 OK')" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
    assert_log '^\[::1\]:[0-9]+ TLSv1\.3 .*"GET / HTTP/1\.1" 200$'
}

test_sni_is_sent_for_a_name_and_not_for_an_ip_address() {
    start_stand_in tls-record || return
    client "https://localhost:$SERVER_PORT/"
    assert_run 0 || return
    client "https://127.0.0.1:$SERVER_PORT/"
    assert_run 0 || return
    local wanted="sni=localhost host=localhost:$SERVER_PORT
sni=none host=127.0.0.1:$SERVER_PORT"
    assertEquals 'what the server saw (SNI, then the Host header)' "$wanted" "$(cat "$PEER_LOG")"
}

# --- The server's certificate: every fixture of certs/README.md ---------------------------------

test_server_certificate_for_another_name_is_refused() {
    use_chapter_01_with wrong-name-server || return
    assertEquals '' "$(check_urls '
localhost 4 server name mismatch: localhost is not in the certificate (it names DNS:www.example.com)
127.0.0.1 4 server name mismatch: 127.0.0.1 is not in the certificate (it names DNS:www.example.com)')"
}

test_dns_only_certificate_is_accepted_by_name_and_refused_by_ip() {
    use_chapter_01_with dns-only-server || return
    assertEquals '' "$(check_urls '
localhost 0
127.0.0.1 4 server name mismatch: 127.0.0.1 is not in the certificate (it names DNS:localhost)')"
}

test_expired_server_certificate_is_refused() {
    use_chapter_01_with expired-server || return
    assertEquals '' "$(check_urls '
localhost 4 server certificate verification failed: certificate has expired (CN=expired-server)
127.0.0.1 4 server certificate verification failed: certificate has expired (CN=expired-server)')"
}

test_server_certificate_from_another_ca_is_refused() {
    use_chapter_01_with other-ca-server || return
    assertEquals '' "$(check_urls '
localhost 4 server certificate verification failed: unable to get local issuer certificate (CN=other-ca-server); it was not issued by the CA in CA FILE')"
}

test_server_certificate_from_another_ca_is_accepted_when_that_ca_is_given() {
    use_chapter_01_with other-ca-server || return
    client --ca "$CERTS/other-ca.crt" /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK' CN=other-ca-server "$CERTS/other-ca.crt")"
}

test_name_only_in_the_subject_cn_is_refused_by_name_and_by_ip() {
    use_chapter_01_with cn-only-server || return
    assertEquals '' "$(check_urls "
localhost 4 server name mismatch: the name localhost appears only in the certificate's subject CN, which is not accepted; the server needs a subjectAltName
127.0.0.1 4 server name mismatch: 127.0.0.1 is not in the certificate")"
}

test_client_certificate_posing_as_a_server_is_refused() {
    # client.crt is from our CA, but its extendedKeyUsage is clientAuth only: not a server's.
    use_chapter_01_with client || return
    assertEquals '' "$(check_urls '
localhost 4 server certificate verification failed: unsuitable certificate purpose (CN=client)')"
}

test_ecdsa_server_certificate_is_accepted_by_name_and_by_ip() {
    use_chapter_01_with ecdsa-server || return
    assertEquals '' "$(check_urls '
localhost 0
127.0.0.1 0')" || return
    client /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK' CN=ecdsa-server)"
}

test_our_server_certificate_is_accepted_by_name_and_by_ip() {
    use_chapter_01 || return
    assertEquals '' "$(check_urls '
localhost 0
127.0.0.1 0')"
}

# make_server_certificate NAME SAN: a server certificate $CERTS/NAME.crt (and .key) from our CA, for
# the subjectAltName SAN (e.g. DNS:*.example.test).
make_server_certificate() {
    [[ -f $CERTS/$1.crt ]] && return
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/$1.key" \
        -subj "/CN=$1" -addext "subjectAltName=$2" -addext 'extendedKeyUsage=serverAuth' \
        -out "$CERTS/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$CERTS/$1.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 2 -copy_extensions copyall \
            -out "$CERTS/$1.crt" 2>/dev/null
}

test_ip_address_in_a_dns_entry_is_refused_saying_where_it_belongs() {
    # DNS:127.0.0.1 looks right, but an IP address is only compared with IP entries. The old
    # fallback to the CN would match it (X509_check_host() reads it as a DNS name), so the message
    # must not blame the CN.
    make_server_certificate ip-as-dns-server 'DNS:127.0.0.1' || return
    use_chapter_01_with ip-as-dns-server || return
    assertEquals '' "$(check_urls '
127.0.0.1 4 server name mismatch: the certificate names 127.0.0.1 as a DNS name (DNS:127.0.0.1), but an IP address must be in an IP entry (IP:127.0.0.1)
localhost 4 server name mismatch: localhost is not in the certificate (it names DNS:127.0.0.1)')"
}

# client_resolving NAME [ARGS...] URL: the client, with NAME resolving to 127.0.0.1. Only
# localhost does so on every machine, so this runs the client in a user and mount namespace
# where a hosts file of our own is mounted over /etc/hosts. Returns 2 when that is not possible
# here (no unprivileged user namespaces).
client_resolving() {
    local name=$1 hosts=$SHUNIT_TMPDIR/hosts
    shift
    printf '127.0.0.1 %s\n' "$name" >"$hosts"
    unshare --user --map-root-user --mount sh -c "mount --bind '$hosts' /etc/hosts" 2>/dev/null || return 2
    local args=("$@")
    if [[ ${args[-1]} == /* ]]; then args[-1]=https://$name:$SERVER_PORT${args[-1]}; fi
    run_program "$(command -v unshare)" --user --map-root-user --mount sh -c \
        'mount --bind "$0" /etc/hosts && exec "$@"' "$hosts" "$CLIENT" --ca "$CERTS/ca.crt" "${args[@]}"
}

test_partial_wildcard_is_refused_and_a_whole_label_one_accepted() {
    # "w*.example.test" would match www.example.test under OpenSSL's default rules.
    make_server_certificate partial-wildcard-server 'DNS:w*.example.test' &&
        make_server_certificate wildcard-server 'DNS:*.example.test' || return
    use_chapter_01_with partial-wildcard-server || return
    client_resolving www.example.test /
    if [[ $? == 2 ]]; then skip_test 'no unprivileged user namespaces (unshare) to resolve www.example.test'; return; fi
    assert_refused 4 'server name mismatch: www.example.test is not in the certificate (it names DNS:w*.example.test)' ||
        return
    use_chapter_01_with wildcard-server || return
    client_resolving www.example.test /
    assert_run 0 "$(summary 'HTTP/1.1 200 OK' CN=wildcard-server)" || return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT"
}

# --- Whom the client trusts: --ca only -------------------------------------------------------------

test_wrong_ca_refuses_our_own_server() {
    use_chapter_01 || return
    client --ca "$CERTS/other-ca.crt" /
    assert_refused 4 "server certificate verification failed: unable to get local issuer certificate (CN=localhost); it was not issued by the CA in $CERTS/other-ca.crt"
}

test_ssl_cert_file_and_dir_add_no_trust() {
    # The system store is never loaded: OpenSSL's environment variables pointing at our CA change
    # nothing when --ca names another one.
    use_chapter_01 || return
    SSL_CERT_FILE=$CERTS/ca.crt SSL_CERT_DIR=$CERTS client --ca "$CERTS/other-ca.crt" /
    assert_run 4 'unable to get local issuer certificate \(CN=localhost\)'
}

test_help_says_the_default_ca_is_relative_to_the_current_directory() {
    # Run from another folder, certs/ca.crt is another file: where the client runs decides whom
    # it trusts, so --help must say so.
    run_program "$CLIENT" --help
    assert_run 0 || return
    assert_output_has "$(tr -s ' \n' '  ' <<<"$RUN_STDOUT")" \
        '\(default certs/ca\.crt, relative to the current directory: where you run the client decides whom it trusts\)' \
        '--help'
}

test_default_ca_is_certs_ca_crt() {
    use_chapter_01 || return
    local dir=$SHUNIT_TMPDIR/default-ca
    mkdir -p "$dir/certs"
    cp "$CERTS/ca.crt" "$dir/certs/ca.crt"
    run_program --in "$dir" "$CLIENT" "https://localhost:$SERVER_PORT/"
    assert_run 0 "$(summary 'HTTP/1.1 200 OK' CN=localhost certs/ca.crt)"
}

# --- TLS 1.2: ECDHE with AEAD only ---------------------------------------------------------------

# start_s_server_tls12 CIPHER: `openssl s_server -www`, TLS 1.2 only, offering only CIPHER.
start_s_server_tls12() {
    start_peer @PORT@ openssl s_server -accept 127.0.0.1:@PORT@ -cert "$CERTS/server.crt" \
        -key "$CERTS/server.key" -tls1_2 -cipher "$1" -www || return
    SERVER_PORT=$PEER_PORT SERVER_LOG=$PEER_LOG LOG_MARK=0
}

test_tls12_without_ecdhe_and_aead_is_refused() {
    # Static RSA key exchange (no forward secrecy), CBC with HMAC-SHA1, and both at once: the
    # server finds no cipher in common with us and ends the handshake.
    local cipher
    for cipher in AES128-SHA AES256-GCM-SHA384 ECDHE-RSA-AES128-SHA; do
        start_s_server_tls12 "$cipher" || return
        client /
        assert_refused 4 "TLS handshake failed: the server ended it with the alert 'handshake failure'" ||
            return
        assert_log 'no shared cipher' "openssl s_server -cipher $cipher" || return
        cleanup_test
    done
}

test_tls12_with_ecdhe_and_aes_gcm_works() {
    start_s_server_tls12 ECDHE-RSA-AES128-GCM-SHA256 || return
    client /
    assert_run 0 '^client: HTTP/1\.0 200 ok; TLSv1\.2 ECDHE-RSA-AES128-GCM-SHA256; server CN=localhost verified by ' ||
        return
    assert_output_has "$RUN_STDOUT" 's_server' 'the page openssl s_server -www sends'
}

# --- The key log (SSLKEYLOGFILE): the secrets go to a file only its owner can read ----------------

test_key_log_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    # Whoever made the link would choose where the secrets go.
    use_chapter_01 || return
    local dir=$SHUNIT_TMPDIR/key-log-link
    mkdir -p "$dir" && echo 'not secrets' >"$dir/target" && ln -sf target "$dir/keys.log" || return
    SSLKEYLOGFILE=$dir/keys.log client /
    assert_run 2 "^client: the key log file '$(re_escape "$dir/keys.log")' \(SSLKEYLOGFILE\) is a symbolic link; refusing to follow it: name the file itself\$" ||
        return
    assertEquals 'nothing on stdout' '' "$RUN_STDOUT" || return
    assertEquals 'the target is untouched' 'not secrets' "$(cat "$dir/target")"
}

test_key_log_that_others_can_read_becomes_0600_with_a_warning() {
    use_chapter_01 || return
    local dir=$SHUNIT_TMPDIR/key-log-0644
    mkdir -p "$dir" && : >"$dir/keys.log" && chmod 0644 "$dir/keys.log" || return
    SSLKEYLOGFILE=$dir/keys.log client /
    assert_run 0 "^client: warning: the key log file '$(re_escape "$dir/keys.log")' could be read or written by others \(mode 0644\); its mode is now 0600\$" ||
        return
    assertEquals 'body on stdout' 'Hello World!' "$RUN_STDOUT" || return
    assertEquals 'the mode of the key log' 600 "$(stat -c %a "$dir/keys.log")" || return
    assert_output_has "$(cat "$dir/keys.log")" '^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} ' 'the key log'
}

# --- Start-up errors: exit 2, naming the file or the flag ----------------------------------------

test_missing_default_ca_names_it_and_says_make_certs() {
    use_chapter_01 || return
    local empty=$SHUNIT_TMPDIR/no-certs-here
    mkdir -p "$empty"
    run_program --in "$empty" "$CLIENT" "https://localhost:$SERVER_PORT/"
    assert_run 2 "^client: cannot read the CA file 'certs/ca\\.crt': No such file or directory \\(run 'make certs' to create it\\)\$"
}

test_missing_or_unusable_files_exit_2_naming_them() {
    use_chapter_01 || return
    echo 'not PEM' >"$SHUNIT_TMPDIR/not-pem.txt"
    local nope=$CERTS/nope.crt junk=$SHUNIT_TMPDIR/not-pem.txt cert=$CERTS/client.crt key=$CERTS/client.key
    local rows=(
        "--ca $nope|cannot read the CA file '$nope': No such file or directory"
        "--ca $CERTS/ca.key|the CA file '$CERTS/ca.key' does not hold a PEM certificate"
        "--ca $junk|the CA file '$junk' does not hold a PEM certificate"
        "--cert $nope --key $key|cannot read the certificate file '$nope': No such file or directory"
        "--cert $cert --key $nope|cannot read the private key file '$nope': No such file or directory"
        "--cert $junk --key $key|'$junk' does not hold a usable PEM certificate"
        "--cert $cert --key $junk|'$junk' does not hold a usable PEM private key"
    )
    local row args
    for row in "${rows[@]}"; do
        read -r -a args <<<"${row%%|*}"
        client "${args[@]}" /
        assert_run 2 "^client: $(re_escape "${row#*|}")\$" || return
    done
}

test_key_that_does_not_match_the_cert_exits_2_naming_it() {
    use_chapter_01 || return
    local key
    for key in other-client.key ecdsa-client.key; do   # another RSA key, then another kind of key
        client --cert "$CERTS/client.crt" --key "$CERTS/$key" /
        assert_refused 2 "the private key '$CERTS/$key' does not match the certificate '$CERTS/client.crt'" ||
            return
    done
}

test_bad_urls_exit_2_saying_why() {
    local url why
    while IFS='|' read -r url why; do
        [[ -n $url ]] || continue
        client "$url"
        assert_run 2 "^client: bad URL '$(re_escape "$url")': $(re_escape "$why")\$" '^usage: client ' || return
    done <<<"
http://localhost:5001/|it must start with https:// (this client speaks only HTTPS)
localhost:5001|it must start with https:// (this client speaks only HTTPS)
https:///|it has no host name
https://:5001/|it has no host name
https://localhost:0/|the port must be a number from 1 to 65535
https://localhost:99999/|the port must be a number from 1 to 65535
https://localhost:abc/|the port must be a number from 1 to 65535
https://localhost:/|the port must be a number from 1 to 65535
https://[::1/|the IPv6 address has no closing ]
https://[localhost]/|the text in [ ] is not an IPv6 address
https://999.1.1.1/|the host looks like an IPv4 address but is not one
https://local host/|the host must be a DNS name, an IPv4 address, or an IPv6 address in [ ]
https://localhost/a b|the path contains a space or a character that must be percent-encoded"
}

test_bad_command_lines_exit_2_saying_why() {
    local line args
    while IFS='|' read -r line why; do
        [[ -n $line ]] || continue
        read -r -a args <<<"$line"
        run_program "$CLIENT" "${args[@]}"
        assert_run 2 "^client: $(re_escape "$why")" '^usage: client ' || return
    done <<<"
--ca $CERTS/ca.crt|no URL given
https://localhost/ https://127.0.0.1/|give one URL, not two
--cert $CERTS/client.crt https://localhost/|--cert and --key go together
--key $CERTS/client.key https://localhost/|--cert and --key go together
--method POST https://localhost/|--method must be GET or HEAD, not 'POST'
--timeout 0 https://localhost/|--timeout must be a number of seconds from 1 to 3600, not '0'
--timeout abc https://localhost/|--timeout must be a number of seconds from 1 to 3600, not 'abc'
--colour https://localhost/|unknown option '--colour'
https://localhost/ --ca|--ca needs a value"
}

test_help_prints_usage_on_stdout_and_exits_0() {
    run_program "$CLIENT" --help
    assertEquals "exit status (stderr: $RUN_STDERR)" 0 "$RUN_STATUS"
    local flag
    for flag in --cert --key --ca --method --timeout --verbose --help 'Exit status'; do
        assert_output_has "$RUN_STDOUT" "$flag" '--help' || return
    done
    assertEquals 'stderr' '' "$RUN_STDERR"
}

# --- Connection failures: exit 3, within --timeout -----------------------------------------------

test_nothing_listening_exits_3() {
    local port
    port=$(free_port)
    client "https://127.0.0.1:$port/"
    assert_refused 3 "cannot connect to 127.0.0.1 port $port: Connection refused"
}

test_host_that_does_not_resolve_exits_3() {
    # .invalid is reserved (RFC 2606): no such name exists anywhere. The reason is the resolver's.
    client "https://no-such-host.invalid:$(free_port)/"
    assert_run 3 '^client: cannot resolve the host name no-such-host\.invalid: .+$' || return
    assertEquals 'stderr is one line' 1 "$(grep -c '' <<<"${RUN_STDERR%$'\n'}")"
    assertEquals 'nothing on stdout' '' "$RUN_STDOUT"
}

test_connect_that_is_never_answered_times_out_with_exit_3() {
    start_stand_in full || return
    client --timeout 1 "https://127.0.0.1:$SERVER_PORT/"
    assert_refused 3 "cannot connect to 127.0.0.1 port $SERVER_PORT: no answer within 1 seconds"
}

test_server_that_never_answers_the_handshake_times_out_with_exit_3() {
    start_stand_in silent || return
    client --timeout 1 /
    assert_refused 3 'TLS handshake timed out: no answer within 1 seconds'
}

test_server_that_never_answers_the_request_times_out_with_exit_3() {
    start_stand_in tls-mute || return
    client --timeout 1 /
    assert_refused 3 'reading the response timed out: no answer within 1 seconds'
}

# --- Not TLS at all: exit 4 ----------------------------------------------------------------------

test_plain_http_server_is_not_tls() {
    start_stand_in plain-http || return
    client /
    assert_refused 4 'TLS handshake failed: the server did not answer in TLS (wrong version number); is this an HTTPS port?'
}

test_server_sending_garbage_is_a_tls_failure() {
    start_stand_in garbage || return
    client /
    assert_run 4 '^client: TLS handshake failed: .+' || return
    assertEquals 'nothing on stdout' '' "$RUN_STDOUT"
}

# --- Handshakes the server ends: exit 4, saying why ------------------------------------------------

test_server_with_only_tls11_has_no_version_in_common() {
    # The server answers our ClientHello (TLS 1.2 and 1.3) with a protocol_version alert.
    start_stand_in tls11 || return
    client /
    assert_refused 4 'TLS handshake failed: the server and this client have no TLS version in common (this client needs TLS 1.2 or later)'
}

test_server_choosing_tls11_has_no_version_in_common() {
    # The server picks TLS 1.1 in its ServerHello: this time our own OpenSSL refuses it.
    start_stand_in hello-tls11 || return
    client /
    assert_refused 4 'TLS handshake failed: the server and this client have no TLS version in common (this client needs TLS 1.2 or later)'
}

test_server_ending_the_handshake_with_an_alert_is_named() {
    start_stand_in alert || return
    client /
    assert_refused 4 "TLS handshake failed: the server ended it with the alert 'unrecognized name'"
}

test_server_asking_to_renegotiate_is_refused() {
    # TLS 1.2 only (TLS 1.3 has no renegotiation). openssl s_server starts a new handshake when it
    # reads the command `r` on its standard input, here a named pipe: we send it once our request
    # has arrived, then an answer. The client refuses with a no_renegotiation alert, and s_server
    # ends the connection with a handshake_failure alert.
    local port fifo=$SHUNIT_TMPDIR/s_server.stdin out=$SHUNIT_TMPDIR/reneg.out err=$SHUNIT_TMPDIR/reneg.err
    local pid status=0
    rm -f "$fifo" && mkfifo "$fifo" || return
    exec 7<>"$fifo"
    port=$(free_port)
    # shellcheck disable=SC2016  # for the inner sh
    if ! start_peer "$port" sh -c 'exec openssl s_server -accept "127.0.0.1:$1" -cert "$2" -key "$3" -tls1_2 <"$0"' \
        "$fifo" "$port" "$CERTS/server.crt" "$CERTS/server.key"; then
        exec 7>&-
        return
    fi
    local SERVER_LOG=$PEER_LOG LOG_MARK=0
    "$CLIENT" --ca "$CERTS/ca.crt" --timeout 5 "https://localhost:$port/" >"$out" 2>"$err" &
    pid=$!
    LIB_BG_PIDS+=("$pid")
    if wait_for_log '^GET / HTTP/1\.1'; then
        echo r >&7
        wait_for_log '^SSL_do_handshake' &&
            printf 'HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nHello World!' >&7
    fi
    wait "$pid" || status=$?
    exec 7>&-
    assertEquals "exit status (stderr: $(cat "$err"))" 4 "$status" || return
    assertEquals 'stderr' "client: TLS handshake failed: the server ended it with the alert 'handshake failure'" "$(cat "$err")" ||
        return
    assertEquals 'nothing on stdout' '' "$(cat "$out")"
    assert_log 'no renegotiation' 'the server log'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
