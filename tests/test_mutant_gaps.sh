#!/usr/bin/env bash
# Behaviours that only a mutant of tests/mutants.list showed to be unpinned: each test here
# fails on the mutant named above it (`scripts/mutants.sh NAME` shows it).
# - The CA names in chapter 03's CertificateRequest.
# - Chapter 03 with the certificate made optional, built from the source of the build under test
#   (test_03's own scratch build always compiles the repository's source, so no mutant reaches it).
# - The TLS 1.2 minimum, in the servers and in the client. On this Debian, OpenSSL's own
#   configuration (MinProtocol = TLSv1.2, security level 2) refuses TLS 1.1 anyway, so a program
#   that dropped its minimum would still pass a plain `-tls1_1` test here, and speak TLS 1.1 on a
#   machine configured otherwise. These tests run the programs under an OpenSSL configuration
#   that allows TLS 1.0 and 1.1 (security level 0): the refusal must then come from the program.
# Run alone with `tests/run.sh test_mutant_gaps` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER_01=$(program_path 01-tls-server/server)
SERVER_03=$(program_path 03-custom-ca-validation/server)
CLIENT=$(program_path 04-client/client)

oneTimeSetUp() {
    require_program "$SERVER_01" && require_program "$SERVER_03" && require_program "$CLIENT" &&
        make_test_certs || return 1
    # An OpenSSL configuration that allows every TLS version and every cipher: the opposite of
    # Debian's defaults, as another system may have it.
    OLD_TLS_CONF=$SHUNIT_TMPDIR/openssl-allows-tls1.cnf
    printf '%s\n' 'openssl_conf = openssl_init' '[openssl_init]' 'ssl_conf = ssl_sect' '[ssl_sect]' \
        'system_default = system_default_sect' '[system_default_sect]' 'MinProtocol = TLSv1' \
        'CipherString = DEFAULT@SECLEVEL=0' >"$OLD_TLS_CONF"
}
tearDown() { cleanup_test; }

# old_tls_client PORT: `openssl s_client -tls1_1` to 127.0.0.1:PORT under OLD_TLS_CONF, with an
# HTTP request. Sets OLD_TLS_OUTPUT and OLD_TLS_EXIT.
old_tls_client() {
    OLD_TLS_EXIT=0
    OLD_TLS_OUTPUT=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        OPENSSL_CONF=$OLD_TLS_CONF timeout -k 2 10 openssl s_client -connect "127.0.0.1:$1" \
            -servername localhost -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -ign_eof 2>&1) || OLD_TLS_EXIT=$?
}

# tls11_peer: starts `openssl s_server` speaking only TLS 1.1 under OLD_TLS_CONF, with our server
# certificate, answering HTTP (-www); sets SERVER_PORT. Returns 2 (after skip_test) when this
# OpenSSL cannot speak TLS 1.1 at all even so: then a refusal proves nothing.
tls11_peer() {
    SERVER_PORT=$(free_port)
    OPENSSL_CONF=$OLD_TLS_CONF start_peer "$SERVER_PORT" openssl s_server -accept "$SERVER_PORT" \
        -cert "$CERTS/server.crt" -key "$CERTS/server.key" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -www ||
        return 1
    old_tls_client "$SERVER_PORT"
    if ! grep -q 'Protocol  *: TLSv1\.1' <<<"$OLD_TLS_OUTPUT" || grep -q 'Cipher is (NONE)' <<<"$OLD_TLS_OUTPUT"; then
        skip_test "this OpenSSL does not speak TLS 1.1 even when configured to: $(head -n 3 <<<"$OLD_TLS_OUTPUT")"
        return 2
    fi
}

# chapter_source PROGRAM: the C file PROGRAM (e.g. 03-custom-ca-validation/server) was built from:
# the one beside it when its build directory holds one (scripts/mutants.sh puts each mutant's
# broken source there), else the repository's.
chapter_source() {
    local built
    built=$(program_path "$1").c
    if [[ -f $built ]]; then printf '%s' "$built"; else printf '%s' "$ROOT/$1.c"; fi
}

# Mutant server03-no-certificate-trusted. Without FAIL_IF_NO_PEER_CERT, a client that sends no
# certificate finishes the handshake with the verdict X509_V_OK, as nothing was checked.
test_chapter_03_with_the_certificate_optional_a_client_without_one_gets_403() {
    local program=$SHUNIT_TMPDIR/03-certificate-optional
    printf '#include <openssl/ssl.h>\n#undef SSL_VERIFY_FAIL_IF_NO_PEER_CERT\n%s\n#include "%s"\n' \
        '#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0' "$(chapter_source 03-custom-ca-validation/server)" >"$program.c"
    if ! timeout 120 "${CC:-cc}" -o "$program" "$program.c" -lssl -lcrypto -lpthread >"$program.log" 2>&1; then
        fail "the scratch build failed: $(cat "$program.log")"
        return
    fi
    start_server "$program" || return
    curl_get /whoami
    assert_curl 403 '' || return
    assert_connection_log 'rejected \(no certificate\) issued by \(nobody\): ok; answered 403$' || return
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!'
}

# Mutant server03-no-ca-names.
test_chapter_03_names_only_our_ca_in_its_certificate_request() {
    start_server "$SERVER_03" || return
    TLS_CLIENT=client s_client_request 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
    assertEquals "HTTP status (s_client output: $SCLIENT_OUTPUT)" 200 "$SCLIENT_STATUS" || return
    # s_client lists the names one a line, after this heading, up to the signature algorithms.
    assertEquals 'the CA names of the CertificateRequest' 'CN = mtls-by-example CA' \
        "$(sed -n '/^Acceptable client certificate CA names$/,/^Requested Signature Algorithms/p' <<<"$SCLIENT_OUTPUT" |
           sed '1d;$d')"
}

# Mutant server01-tls10-allowed.
test_chapter_01_refuses_tls11_even_where_openssl_would_allow_it() {
    tls11_peer || return
    cleanup_test
    OPENSSL_CONF=$OLD_TLS_CONF start_server "$SERVER_01" || return
    old_tls_client "$SERVER_PORT"
    assertNotEquals "s_client -tls1_1 must fail: $OLD_TLS_OUTPUT" 0 "$OLD_TLS_EXIT" || return
    assert_output_has "$OLD_TLS_OUTPUT" 'alert protocol version' 'the server answers with a protocol_version alert' ||
        return
    assert_log '^127\.0\.0\.1:[0-9]+ handshake failed: .*(version|protocol)'
}

# Mutant client-tls10-allowed.
test_client_refuses_tls11_even_where_openssl_would_allow_it() {
    tls11_peer || return
    OPENSSL_CONF=$OLD_TLS_CONF run_program "$CLIENT" --ca "$CERTS/ca.crt" "https://localhost:$SERVER_PORT/"
    assert_run 4 '^client: TLS handshake failed: the server and this client have no TLS version in common \(this client needs TLS 1\.2 or later\)$' ||
        return
    assertEquals 'nothing on stdout' '' "$RUN_STDOUT"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
