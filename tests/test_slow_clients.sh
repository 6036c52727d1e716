#!/usr/bin/env bash
# Chapter 05 against slow and hostile clients, with its defaults: an attacker at 127.0.0.2 opens
# 128 connections that (a) send one byte and wait, (b) complete the handshake with a certificate
# from another CA, get their 403 and stay silent, or (c) send a real ClientHello and never answer;
# meanwhile a real client at 127.0.0.1 is served within 1 s (a generous bound: the attacks hold
# 16 workers at most, --max-per-address, and the rest are refused at once, which is logged). A
# person who takes 20 s to choose a certificate after the server's CertificateRequest is served
# too: the ClientHello moves the deadline to 30 s. The attackers are tests/slow-clients.py; each
# test ends within about 30 s. Run alone with `tests/run.sh test_slow_clients` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVER=$(program_path 05-production-server/server)
ATTACKER=$ROOT/tests/slow-clients.py
ATTACKER_ADDRESS=127.0.0.2

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }

# start_attack MODE COUNT [ARGS...]: starts tests/slow-clients.py MODE against SERVER_PORT from
# ATTACKER_ADDRESS, holding its COUNT connections 25 s at most, and waits (at most 20 s) until it
# says they are all made. Sets ATTACK_OUT (its output file) and ATTACK_READY (connections made).
start_attack() {
    local mode=$1 count=$2 i
    shift 2
    _lib_scratch attack; ATTACK_OUT=$LIB_SCRATCH
    : >"$ATTACK_OUT"
    timeout -k 2 40 python3 "$ATTACKER" "$mode" "$SERVER_PORT" "$ATTACKER_ADDRESS" "$count" 25 "$@" \
        >"$ATTACK_OUT" 2>&1 &
    LIB_BG_PIDS+=($!)
    for ((i = 0; i < 200; i++)); do
        ATTACK_READY=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$ATTACK_OUT")
        [[ -z $ATTACK_READY ]] || return 0
        sleep 0.1
    done
    fail "the attack ($mode) did not get ready in 20 s: $(cat "$ATTACK_OUT")"
    return 1
}

# assert_real_client_served_within_1_s: curl from 127.0.0.1 with our client certificate gets 200
# `Hello World!` within 1 s (curl's time_total; the attack costs the real client nothing, as
# long as the machine is not swamped).
assert_real_client_served_within_1_s() {
    local out
    out=$(timeout -k 2 25 curl -q -sS --noproxy '*' --interface 127.0.0.1 --max-time 20 \
          --resolve "localhost:$SERVER_PORT:127.0.0.1" --cacert "$CERTS/ca.crt" \
          --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
          -w '\n%{http_code} %{time_total}' "https://localhost:$SERVER_PORT/" 2>&1)
    assert_output_has "$out" '^Hello World!$' "the real client (attack: $(head -n 1 "$ATTACK_OUT"))" || return 1
    local status seconds
    read -r status seconds <<<"$(tail -n 1 <<<"$out")"
    assertEquals 'HTTP status of the real client' 200 "$status" || return 1
    assertTrue "the real client took $seconds s: wanted less than 1 s (load average: $(cut -d' ' -f1-3 /proc/loadavg))" \
        "awk -v s=$seconds 'BEGIN { exit !(s < 1) }'"
}

test_128_connections_that_send_one_byte_do_not_delay_a_real_client() {
    start_server "$SERVER" || return
    start_attack one-byte 128 || return
    assert_real_client_served_within_1_s || return
    assert_log "^127\\.0\\.0\\.2:[0-9]+ refused: 16 connections from this address already \\(--max-per-address\\)\$" \
        'the refusal of the 17th connection'
}

test_128_strangers_silent_after_their_403_do_not_delay_a_real_client() {
    start_server "$SERVER" || return
    start_attack strangers 128 "$CERTS/ca.crt" "$CERTS/other-client.crt" "$CERTS/other-client.key" ||
        return
    assertTrue "strangers that completed their handshake: $ATTACK_READY" "((ATTACK_READY >= 1))" || return
    assert_log '^127\.0\.0\.2:[0-9]+ rejected CN=other-client issued by CN=Other CA: .*; answered 403$' ||
        return
    assert_real_client_served_within_1_s
}

test_128_connections_stalled_after_their_client_hello_do_not_delay_a_real_client() {
    start_server "$SERVER" || return
    start_attack hello 128 || return
    assert_real_client_served_within_1_s
}

# The ClientHello is in, so the deadline is 30 s from then: a person has time to pick a certificate
# in a browser's dialog, which opens after the CertificateRequest.
test_a_client_that_sends_its_certificate_20_s_after_the_certificate_request_is_served() {
    local out
    start_server "$SERVER" || return
    out=$(timeout -k 2 40 python3 "$ATTACKER" late-certificate "$SERVER_PORT" "$CERTS/ca.crt" \
          "$CERTS/client.crt" "$CERTS/client.key" 20 2>&1)
    assertEquals "the answer after 20 s (the log: $(tail -n 3 "$SERVER_LOG"))" 'HTTP/1.1 200 OK' "$out" || return
    assert_log '^127\.0\.0\.1:[0-9]+ TLSv1\.3 [A-Z0-9_-]+ "GET / HTTP/1\.1" 200$'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
