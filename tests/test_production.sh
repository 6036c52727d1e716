#!/usr/bin/env bash
# The road to production (docs/production.md): chapter 03's policy in nginx, with
# tests/nginx-mtls.conf.template filled in and run on free loopback ports with the test
# certificates. `ssl_verify_client on`: our client 200, no certificate 400, another CA's client
# 400, a revoked or expired one 400. `optional`: no certificate reaches the
# `if ($ssl_client_verify != SUCCESS) { return 403; }`, a bad one still gets 400. `optional_no_ca`
# plus that `if`: another CA's client 403, as chapter 03 answers. The application behind nginx learns the client's
# subject from a header. A client one intermediate CA below ours gets in, one two below does not
# (ssl_verify_depth 1), and the CRL file holds a CRL from each of our CAs. Skipped when nginx is not installed (scripts/deps.sh --optional), failed
# instead under REQUIRE_PEERS=1; NGINX=PATH picks another nginx.
# Run alone with `tests/run.sh test_production`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

TEMPLATE=$ROOT/tests/nginx-mtls.conf.template
NGINX=${NGINX:-$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || echo nginx)}

oneTimeSetUp() { make_test_certs; }

# start_nginx MODE [SED]: nginx with the template, ssl_verify_client MODE, and the sed expression
# SED applied to it when given. Sets SERVER_PORT and
# SERVER_LOG (nginx's error log) for curl_get; cleanup_test stops it by PID. Returns 1 when the
# test cannot go on: nginx is missing (the test is skipped, see require_peer) or did not start (the
# test has failed); either way the test ends with `|| return 0`.
start_nginx() {
    local prefix app_port
    require_peer "$NGINX" 'the road to production (scripts/deps.sh --optional installs nginx)' || return 1
    _lib_scratch nginx; prefix=$LIB_SCRATCH
    mkdir -p "$prefix"
    app_port=$(free_port)
    # @PORT@ stays for start_peer, which picks it (again, if another process takes it first).
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@APP_PORT@|$app_port|g" \
        -e "s|@CERTS@|$CERTS|g" -e "s|@VERIFY@|$1|g" -e "${2:-}" "$TEMPLATE" >"$prefix/nginx.conf.in"
    if sed 's/@PORT@//g' "$prefix/nginx.conf.in" | grep -q '@[A-Z_]*@'; then
        fail "a placeholder was left in the configuration: $(grep '@[A-Z_]*@' "$prefix/nginx.conf.in")"
        return 1
    fi
    start_peer --config "$prefix/nginx.conf.in" "$prefix/nginx.conf" @PORT@ \
        "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" || {
        fail "nginx error log: $(tail -n 20 "$prefix/error.log" 2>/dev/null)"; return 1; }
    SERVER_PORT=$PEER_PORT
    SERVER_LOG=$prefix/error.log
    LOG_MARK=0
}

# --- ssl_verify_client on --------------------------------------------------------------------------

test_nginx_on_our_client_gets_200() {
    start_nginx on || return 0
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!'
}

test_nginx_on_passes_the_client_subject_to_the_app() {
    start_nginx on || return 0
    TLS_CLIENT=client curl_get /whoami
    assert_curl 200 || return
    assert_output_has "$CURL_BODY" '^verify=SUCCESS subject=CN=client issuer=CN=mtls-by-example CA$'
}

test_nginx_on_intermediate_client_gets_200() {
    start_nginx on || return 0
    TLS_CLIENT=intermediate-client curl_get /whoami
    assert_curl 200 || return
    assert_output_has "$CURL_BODY" '^verify=SUCCESS subject=CN=intermediate-client issuer=CN=mtls-by-example Intermediate CA$'
}

# make_two_intermediate_client: a client certificate two CAs below ca (ca, then two-1, then two-2),
# in $CERTS/two-intermediate-client.crt with both CAs after it (made once per run).
make_two_intermediate_client() {
    local dir=$CERTS/two-deep name issuer=ca
    [[ -s $CERTS/two-intermediate-client.crt ]] && return 0
    mkdir -p "$dir" || return 1
    printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' >"$dir/ca.ext"
    printf 'basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n' >"$dir/leaf.ext"
    for name in two-1 two-2 two-intermediate-client; do
        local ext=$dir/ca.ext issuer_dir=$dir
        [[ $name != two-intermediate-client ]] || ext=$dir/leaf.ext
        [[ $issuer != ca ]] || issuer_dir=$CERTS
        if ! timeout 60 openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "/CN=$name" \
                -out "$dir/$name.csr" 2>/dev/null ||
           ! timeout 60 openssl x509 -req -in "$dir/$name.csr" -CA "$issuer_dir/$issuer.crt" \
                -CAkey "$issuer_dir/$issuer.key" -days 2 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null; then
            fail "could not make $name"
            return 1
        fi
        issuer=$name
    done
    cat "$dir/two-intermediate-client.crt" "$dir/two-2.crt" "$dir/two-1.crt" >"$CERTS/two-intermediate-client.crt" &&
        cp "$dir/two-intermediate-client.key" "$CERTS/two-intermediate-client.key"
}

# docs/production.md: `ssl_verify_depth 1` (nginx's default) lets a chain with one intermediate CA
# through and refuses one with two; the template says 1. (The CRL line goes: the two CAs made
# here publish no CRL, and nginx would refuse the chain for that before the depth mattered.)
test_nginx_verify_depth_lets_one_intermediate_through_not_two() {
    make_two_intermediate_client || return
    start_nginx on '/ssl_crl /d' || return 0
    TLS_CLIENT=intermediate-client curl_get /
    assert_curl 200 'Hello World!' || return
    TLS_CLIENT=two-intermediate-client curl_get /
    assert_curl 400 || return
    assert_log 'client SSL certificate verify error' "nginx's error log for the chain with two intermediate CAs"
}

test_nginx_on_no_certificate_gets_400() {
    start_nginx on || return 0
    curl_get /
    assert_curl 400 || return
    assert_output_has "$CURL_BODY" 'No required SSL certificate was sent'
}

test_nginx_on_other_ca_client_gets_400() {
    start_nginx on || return 0
    TLS_CLIENT=other-client curl_get /
    assert_curl 400 || return
    assert_output_has "$CURL_BODY" 'The SSL certificate error' || return
    assert_log 'client SSL certificate verify error: .*(unable to get local issuer certificate|unable to verify the first certificate)'
}

test_nginx_on_revoked_client_gets_400() {
    start_nginx on || return 0
    TLS_CLIENT=revoked-client curl_get /
    assert_curl 400 || return
    assert_log 'client SSL certificate verify error: .*certificate revoked'
}

test_nginx_on_expired_client_gets_400() {
    start_nginx on || return 0
    TLS_CLIENT=expired-client curl_get /
    assert_curl 400 || return
    assert_log 'client SSL certificate verify error: .*certificate has expired'
}

test_nginx_app_cannot_be_fooled_by_a_client_header() {
    start_nginx on || return 0
    TLS_CLIENT=client curl_get /whoami -H 'X-Client-Subject: CN=admin'
    assert_curl 200 || return
    assert_output_has "$CURL_BODY" 'subject=CN=client '
}

# --- ssl_verify_client optional: a missing certificate reaches the `if`, a bad one does not -------

test_nginx_optional_no_certificate_gets_403() {
    start_nginx optional || return 0
    curl_get /
    assert_curl 403
}

test_nginx_optional_other_ca_client_still_gets_400() {
    start_nginx optional || return 0
    TLS_CLIENT=other-client curl_get /
    assert_curl 400
}

# --- ssl_verify_client optional_no_ca + 403: chapter 03's design -----------------------------------

test_nginx_optional_no_ca_our_client_gets_200() {
    start_nginx optional_no_ca || return 0
    TLS_CLIENT=client curl_get /
    assert_curl 200 'Hello World!'
}

test_nginx_optional_no_ca_other_ca_client_gets_403() {
    start_nginx optional_no_ca || return 0
    TLS_CLIENT=other-client curl_get /
    assert_curl 403
}

# optional_no_ca lets through only "issuer unknown" failures; revoked, expired... are still 400.
test_nginx_optional_no_ca_revoked_client_still_gets_400() {
    start_nginx optional_no_ca || return 0
    TLS_CLIENT=revoked-client curl_get /
    assert_curl 400 || return
    assert_log 'client SSL certificate verify error: .*certificate revoked'
}

test_nginx_optional_no_ca_no_certificate_gets_403() {
    start_nginx optional_no_ca || return 0
    curl_get /
    assert_curl 403
}

# shellcheck disable=SC1090
. "$SHUNIT2"
