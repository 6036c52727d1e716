#!/usr/bin/env bash
# scripts/gen-certs.sh as a learner meets it: run alone it prints the whole recipe; with
# --quiet-fixtures (what `make demo` runs) it prints the articles' recipe in full (our CA, the
# server, the client, the other CA), then one line per further fixture, and keeps every command in
# DIR/gen-certs.log. scripts/article-certs.sh makes the Spanish article's certificates and nothing else.
# Run alone with `tests/run.sh test_gen_certs`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

GEN=$ROOT/scripts/gen-certs.sh

# The quiet run happens once (it takes a few seconds); the tests read what it printed.
oneTimeSetUp() {
    _lib_need_tmp
    QUIET_DIR=$LIB_TMP/quiet
    QUIET_STATUS=0
    QUIET_OUT=$(cd "$ROOT" && timeout 120 "$GEN" --quiet-fixtures "$QUIET_DIR" 2>&1) || QUIET_STATUS=$?
    # The recipe part: everything before the fixtures' heading; the rest is the fixtures part.
    RECIPE=$(sed '/^== the fixtures/,$d' <<<"$QUIET_OUT")
    FIXTURES=$(sed -n '/^== the fixtures/,$p' <<<"$QUIET_OUT")
}

test_quiet_fixtures_succeeds_and_names_its_log() {
    assertEquals "exit status; output:
$QUIET_OUT" 0 "$QUIET_STATUS" || return
    assert_output_has "$QUIET_OUT" "every command with its reason: .*/quiet/gen-certs\.log$" 'the log is named'
    assertTrue 'the log exists' "[[ -s $QUIET_DIR/gen-certs.log ]]"
}

test_quiet_fixtures_shows_the_articles_recipe_in_full() {
    local command
    for command in 'openssl genrsa -out ca.key 3072' \
                   "openssl req -new -key ca.key -subj '/CN=mtls-by-example CA' -out ca.csr" \
                   'openssl x509 -req -in ca.csr -signkey ca.key ' \
                   'openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key ' \
                   'openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key ' \
                   'openssl x509 -req -in other-client.csr -CA other-ca.crt -CAkey other-ca.key '; do
        assert_output_has "$RECIPE" "^\\$ $(re_escape "$command")" 'the recipe part' || return
    done
    assert_output_has "$RECIPE" '^extendedKeyUsage = clientAuth$' 'client.ext is shown' || return
    assert_output_has "$RECIPE" '^subjectAltName = DNS:localhost, IP:127\.0\.0\.1, IP:::1$' 'server.ext is shown'
}

test_quiet_fixtures_shows_one_line_per_further_fixture() {
    local name
    assertNotNull 'the fixtures heading' "$FIXTURES" || return
    if grep -q '^\$ ' <<<"$FIXTURES"; then
        fail "commands shown in the fixtures part:
$FIXTURES"
        return
    fi
    for name in expired-client not-yet-valid-client self-signed-client server-eku-client \
                leaf-signed-client intermediate-ca intermediate-client revoked-client ecdsa-client \
                wrong-name-server dns-only-server expired-server other-ca-server cn-only-server ecdsa-server; do
        assertEquals "one 'made $name:' line in:
$FIXTURES" 1 "$(grep -c "^made $name: " <<<"$FIXTURES")" || return
    done
    assert_output_has "$FIXTURES" \
        '^made expired-client: valid [0-9]{4}-[0-9]{2}-[0-9]{2} to [0-9]{4}-[0-9]{2}-[0-9]{2}, issued by mtls-by-example CA; for the expired-certificate test' \
        'the expired client line'
}

test_the_log_holds_every_command() {
    local log=$QUIET_DIR/gen-certs.log
    assert_output_has "$(cat "$log")" '^\$ openssl genrsa -out expired-client\.key 2048$' 'the log' || return
    assert_output_has "$(cat "$log")" '^\$ openssl ca -config \.ca-db/ca\.crl\.cnf -batch -gencrl -out ca\.crl$' 'the log'
}

test_a_second_quiet_run_keeps_every_file() {
    local out status=0
    out=$(cd "$ROOT" && timeout 60 "$GEN" --quiet-fixtures "$QUIET_DIR" 2>&1) || status=$?
    assertEquals "exit status; output: $out" 0 "$status" || return
    assert_output_has "$out" '^kept expired-client$' 'kept lines' || return
    if grep -q '^made ' <<<"$out"; then fail "made something again: $out"; fi
}

test_quiet_fixtures_reports_a_failure_with_its_status() {
    local out status=0
    out=$(cd "$ROOT" && OPENSSL=false PATH=/nonexistent:$PATH timeout 60 "$GEN" --quiet-fixtures \
          "$LIB_TMP/broken" 2>&1) || status=$?
    # Homebrew's OpenSSL is tried after $OPENSSL: only meaningful where it is absent.
    [[ ! -x /opt/homebrew/opt/openssl@3/bin/openssl && ! -x /usr/local/opt/openssl@3/bin/openssl ]] ||
        { skip_test 'a Homebrew OpenSSL 3 is installed'; return; }
    assertEquals "exit status; output: $out" 1 "$status" || return
    assert_output_has "$out" 'needs the openssl program of OpenSSL 3' 'the reason'
}

test_gen_certs_alone_still_prints_every_fixture_command() {
    local out status=0
    out=$(cd "$ROOT" && timeout 120 "$GEN" "$LIB_TMP/full" 2>&1) || status=$?
    assertEquals "exit status" 0 "$status" || return
    assert_output_has "$out" '^\$ openssl genrsa -out expired-client\.key 2048$' 'the full recipe' || return
    assertFalse 'no log file without --quiet-fixtures' "[[ -e $LIB_TMP/full/gen-certs.log ]]"
}

test_article_certs_makes_the_spanish_articles_files_only() {
    local out status=0 dir=$LIB_TMP/article
    out=$(cd "$ROOT" && timeout 60 scripts/article-certs.sh "$dir" 2>&1) || status=$?
    assertEquals "exit status; output: $out" 0 "$status" || return
    assertEquals 'nine openssl commands, each printed' 9 "$(grep -c '^\$ openssl ' <<<"$out")" || return
    assertEquals 'the files' 'ca.crt ca.csr ca.key ca.srl service1.crt service1.csr service1.key service2.crt service2.csr service2.key' \
        "$(cd "$dir" && ls | tr '\n' ' ' | sed 's/ $//')" || return
    assert_output_has "$(openssl x509 -in "$dir/service1.crt" -noout -text)" 'Version: 1 \(0x0\)' 'no extensions' || return
    assertEquals 'service2 chains to the article CA' "$dir/service2.crt: OK" \
        "$(openssl verify -CAfile "$dir/ca.crt" -purpose sslclient "$dir/service2.crt" 2>&1)"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
