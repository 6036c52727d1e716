#!/usr/bin/env bash
# scripts/gen-certs.sh as a learner meets it: run alone it prints the whole recipe; with
# --quiet-fixtures (what `make demo` runs) it prints the articles' recipe in full (our CA, the
# server, the client, the other CA), then one line per further fixture, and keeps every command in
# DIR/gen-certs.log. scripts/article-certs.sh makes the Spanish article's certificates and nothing else.
# Run alone with `tests/run.sh test_gen_certs`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

GEN=$ROOT/scripts/gen-certs.sh

# The quiet run happens once (it takes a few seconds); the tests read what it printed and made. It
# runs under umask 000, which would leave every new file writable by anyone, and with every openssl
# argument recorded in ARGV_LOG (the arguments that ps shows).
oneTimeSetUp() {
    _lib_need_tmp
    QUIET_DIR=$LIB_TMP/quiet
    QUIET_STATUS=0
    ARGV_LOG=$LIB_TMP/openssl-argv.log
    argv_recorder "$LIB_TMP/argv-bin" && : >"$ARGV_LOG"
    QUIET_OUT=$(cd "$ROOT" && umask 000 && PATH=$LIB_TMP/argv-bin:$PATH ARGV_LOG=$ARGV_LOG \
                timeout 120 "$GEN" --quiet-fixtures "$QUIET_DIR" 2>&1) || QUIET_STATUS=$?
    # The recipe part: everything before the fixtures' heading; the rest is the fixtures part.
    FIRST_LOG=$LIB_TMP/first-run.log   # the log of this run (a later quiet run writes it again)
    cp "$QUIET_DIR/gen-certs.log" "$FIRST_LOG" 2>/dev/null
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

# mode FILE: its permission bits in octal (644).
mode() { stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"; }

# Under umask 000 (the quiet run) the folder is 0755, certificates and CRLs 0644, keys and .p12
# files 0600: nothing is writable by anyone but its owner.
test_under_umask_000_nothing_it_makes_is_writable_by_others() {
    local file wrong=''
    assertEquals 'exit status of the run under umask 000' 0 "$QUIET_STATUS" || return
    assertEquals "the folder's mode" 755 "$(mode "$QUIET_DIR")" || return
    for file in "$QUIET_DIR"/*.crt "$QUIET_DIR"/*.crl; do
        [[ $(mode "$file") == 644 ]] || wrong+=" ${file##*/}:$(mode "$file")"
    done
    assertEquals 'certificates and CRLs not 0644' '' "$wrong" || return
    assertEquals 'files writable by group or others' '' "$(find "$QUIET_DIR" -perm -020 -o -perm -002)"
}

# Every private key, and the .p12 files that hold one, readable by its owner only.
test_every_private_key_is_readable_by_its_owner_only() {
    local file wrong=''
    for file in "$QUIET_DIR"/*.key "$QUIET_DIR"/*.p12; do
        [[ $(mode "$file") == 600 ]] || wrong+=" ${file##*/}:$(mode "$file")"
    done
    assertEquals 'keys and .p12 files not 0600' '' "$wrong" || return
    assertTrue 'the keys are there' "[[ -f $QUIET_DIR/ca.key && -f $QUIET_DIR/ecdsa-client.key ]]"
}

# openssl keeps the mode of a file it writes over: files made again over old ones left readable or
# writable by anyone get their modes all the same (key and .p12 0600, certificate 0644).
test_files_made_again_over_old_ones_get_their_modes() {
    local dir=$LIB_TMP/again out status=0
    mkdir -p "$dir" && cp -p "$QUIET_DIR"/*.* "$dir"/ && rm "$dir/client.crt" &&
        chmod 666 "$dir/client.key" "$dir/client.p12" "$dir/leaf-signed-client.crt"
    out=$(cd "$ROOT" && timeout 60 "$GEN" "$dir" 2>&1) || status=$?
    assertEquals "exit status; output: $out" 0 "$status" || return
    assert_output_has "$out" '^\$ openssl genrsa -out client\.key 2048$' 'client is made again' || return
    assert_output_has "$out" '^\$ openssl x509 -req -in leaf-signed-client\.csr ' 'leaf-signed-client, which client signs, too' || return
    assertEquals 'client.key made again over a 0666 file' 600 "$(mode "$dir/client.key")" || return
    assertEquals 'client.p12 made again over a 0666 file' 600 "$(mode "$dir/client.p12")" || return
    assertEquals 'leaf-signed-client.crt made again over a 0666 file' 644 "$(mode "$dir/leaf-signed-client.crt")"
}

# The .p12 password reaches openssl through the environment (env:), never as an argument, which
# any user sees with ps; the recipe shows how (export P12_PASSWORD=..., then -passout env:).
test_no_password_on_an_openssl_command_line() {
    assert_output_has "$(cat "$ARGV_LOG")" '^pkcs12$' 'openssl pkcs12 ran through the recorder' || return
    assertEquals 'openssl arguments that are the password' '' \
        "$(grep -E -e '^pass:' -e '^mtls-by-example$' "$ARGV_LOG")" || return
    assert_output_has "$(cat "$FIRST_LOG")" '^\$ export P12_PASSWORD=mtls-by-example$' 'the recipe' || return
    assert_output_has "$(cat "$FIRST_LOG")" '^\$ openssl pkcs12 -export .* -passout env:P12_PASSWORD -out client\.p12$' 'the recipe'
}

# client.p12 is OpenSSL 3's default PKCS#12: key and certificates under AES-256-CBC (PBES2), a
# SHA-256 MAC; only client-legacy.p12 uses -legacy's RC2 and 3DES.
test_client_p12_is_encrypted_with_aes_256() {
    local info
    info=$(P12_PASSWORD=mtls-by-example openssl pkcs12 -info -noout -in "$QUIET_DIR/client.p12" \
           -passin env:P12_PASSWORD 2>&1)
    assert_output_has "$info" '^MAC: sha256' 'the MAC' || return
    assert_output_has "$info" '^PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' 'the certificates' || return
    assert_output_has "$info" '^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC' 'the key' || return
    if grep -Eqi 'rc2|3des|des-ede3|sha1' <<<"$info"; then fail "a legacy algorithm in: $info"; fi
}

# The printed recipe starts with `$ cd DIR`; a folder named with quotes, $(...) and backquotes
# stays a name when that line is pasted into bash.
test_pasted_cd_line_runs_nothing_from_the_folder_name() {
    local dir=$LIB_TMP/"certs'\$(touch PWNED)'\`touch PWNED\`" paste=$LIB_TMP/paste out status=0 line
    mkdir -p "$dir" "$paste" && cp -p "$QUIET_DIR"/*.* "$dir"/
    out=$(cd "$ROOT" && timeout 60 "$GEN" "$dir" 2>&1) || status=$?
    assertEquals "exit status; output: $out" 0 "$status" || return
    line=$(grep -m 1 '^\$ cd ' <<<"$out")
    assertNotNull "a cd line in: $out" "$line" || return
    assertEquals "where the pasted line '$line' goes" "$dir" "$(cd "$paste" && bash -c "${line#\$ } && pwd" 2>&1)" || return
    assertEquals 'files made by what the folder name holds' '' "$(find "$LIB_TMP" -name PWNED)"
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
