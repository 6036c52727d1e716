#!/usr/bin/env bash
# scripts/cert-doctor.sh: what it says about every fixture in certs/ (certs/README.md), and that its
# verdict for a client certificate is the one chapter 03 reaches (200 or 403).
# Run alone with `tests/run.sh test_cert_doctor` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

DOCTOR=scripts/cert-doctor.sh
SERVER=$(program_path 03-custom-ca-validation/server)

oneTimeSetUp() {
    make_test_certs
}
oneTimeTearDown() { stop_shared_servers; }

# doctor ARGS...: runs the doctor trusting $CERTS/ca.crt; an argument starting with @ names a file
# in $CERTS (@client.crt). Sets RUN_STATUS, RUN_STDOUT, RUN_STDERR.
doctor() {
    local args=() arg
    for arg in "$@"; do
        if [[ $arg == @* ]]; then args+=("$CERTS/${arg#@}"); else args+=("$arg"); fi
    done
    run_program "$DOCTOR" --ca "$CERTS/ca.crt" "${args[@]}"
}

# check_report CONTEXT STATUS: the shape every report has: each ✗ line is followed by a fix line,
# and the last line is the verdict matching STATUS (0 accepted, 1 refused with the count of ✗).
check_report() {
    local context=$1 status=$2 problems last
    problems=$(grep -c '^✗ ' <<<"$RUN_STDOUT" || true)
    last=$(tail -n 1 <<<"${RUN_STDOUT%$'\n'}")
    if [[ $status == 0 ]]; then
        [[ $problems == 0 && $last == 'verdict: accepted' ]] || echo "$context: wanted 'verdict: accepted', got: $RUN_STDOUT"
    else
        [[ $problems -gt 0 && $last == "verdict: refused ($problems problem"* ]] ||
            echo "$context: wanted 'verdict: refused ($problems ...)', got: $RUN_STDOUT"
    fi
    if awk '/^✗ / { want = 1; next } want && !/^  fix: / { bad = 1 } { want = 0 } END { exit !bad }' \
           <<<"$RUN_STDOUT"; then
        echo "$context: a ✗ line without a '  fix:' line after it: $RUN_STDOUT"
    fi
}

# check_doctor TABLE: for each line "FIXTURE | ARGS | STATUS | PATTERN" the doctor, run on
# @FIXTURE.crt with ARGS, must exit with STATUS and print a line matching PATTERN (extended regex).
# Prints one line per mismatch, nothing when all is well.
check_doctor() {
    local fixture args status pattern words
    while IFS='|' read -r fixture args status pattern; do
        fixture=${fixture// /}
        [[ -n $fixture ]] || continue
        read -ra words <<<"$args"
        status=${status// /} pattern=${pattern# }
        doctor "@$fixture.crt" "${words[@]}"
        if [[ $RUN_STATUS != "$status" ]]; then
            echo "$fixture $args: wanted exit $status, got $RUN_STATUS: $RUN_STDOUT $RUN_STDERR"
            continue
        fi
        check_report "$fixture $args" "$status"
        grep -Eq -e "$pattern" <<<"$RUN_STDOUT" || echo "$fixture $args: no line matching /$pattern/ in: $RUN_STDOUT"
    done <<<"$1"
}

# What the doctor says about each fixture, in the role certs/README.md gives it.
CLIENT_FIXTURES='
client               |                  | 0 | ✓ it chains to CN=mtls-by-example CA
ecdsa-client         |                  | 0 | ✓ its extendedKeyUsage allows clientAuth
intermediate-client  |                  | 0 | through CN=mtls-by-example Intermediate CA
other-client         |                  | 1 | ✗ it does not chain .*issued by CN=Other CA.*unable to get local issuer certificate
expired-client       |                  | 1 | ✗ CN=expired-client has expired: .* 36[456] days ago
not-yet-valid-client |                  | 1 | ✗ CN=not-yet-valid-client is not valid yet: .* in 36[456] days
self-signed-client   |                  | 1 | ✗ it is self-signed
server-eku-client    |                  | 1 | ✗ its extendedKeyUsage .* without clientAuth
leaf-signed-client   |                  | 1 | ✗ CN=client, which signed CN=leaf-signed-client, is not a CA
revoked-client       |                  | 0 | verdict: accepted
revoked-client       | --crl @ca.crl    | 1 | ✗ it is revoked
client               | --crl @ca.crl    | 0 | ✓ .*ca.crl holds the CRL of every CA in its chain, and none lists it
intermediate-client  | --crl @ca.crl    | 1 | ✗ .*ca.crl has no CRL from CN=mtls-by-example Intermediate CA
intermediate-client  | --crl @all.crl   | 0 | verdict: accepted
intermediate-client  | --crl @intermediate-ca.crl | 1 | ✗ .*intermediate-ca.crl has no CRL from CN=mtls-by-example CA, which issued CN=mtls-by-example Intermediate CA
intermediate-client  | --crl @all-intermediate-revoked.crl | 1 | ✗ CN=mtls-by-example Intermediate CA, a CA in its chain, is revoked
'
SERVER_FIXTURES='
server            | --for server                   | 0 | ✓ its subjectAltName covers localhost
server            | --for server --host 127.0.0.1  | 0 | ✓ its subjectAltName covers 127.0.0.1
server            | --for server --host ::1        | 0 | ✓ its subjectAltName covers ::1
ecdsa-server      | --for server                   | 0 | verdict: accepted
ecdsa-server      | --for server --host 127.0.0.1  | 0 | verdict: accepted
ecdsa-server      | --for server --host ::1        | 0 | verdict: accepted
wrong-name-server | --for server                   | 1 | ✗ it is not for localhost: .*DNS:www.example.com
dns-only-server   | --for server                   | 0 | verdict: accepted
dns-only-server   | --for server --host 127.0.0.1  | 1 | ✗ its subjectAltName has no IP Address:127.0.0.1 entry
expired-server    | --for server                   | 1 | ✗ CN=expired-server has expired
other-ca-server   | --for server                   | 1 | ✗ it does not chain .*unable to get local issuer certificate
cn-only-server    | --for server                   | 1 | ✗ localhost is only in the subject CN
'
KEY_CHECKS='
client | --key @client.key | 0 | ✓ .*client.key is its private key
client | --key @server.key | 1 | ✗ .*server.key does not match it
'

test_client_certificates_are_judged_as_chapter_03_would() {
    assertEquals 'client fixtures' '' "$(check_doctor "$CLIENT_FIXTURES")"
}

test_server_certificates_are_judged_as_the_04_client_would() {
    assertEquals 'server fixtures' '' "$(check_doctor "$SERVER_FIXTURES")"
}

test_key_must_belong_to_the_certificate() {
    assertEquals 'key checks' '' "$(check_doctor "$KEY_CHECKS")"
}

# The fixes are commands: a refused certificate names the same openssl steps as gen-certs.sh.
test_fix_reissues_with_an_extension_file_for_the_role() {
    doctor @server-eku-client.crt
    assert_output_has "$RUN_STDOUT" "^  fix: printf .*'extendedKeyUsage = clientAuth'.* > .*server-eku-client\\.ext$" &&
        assert_output_has "$RUN_STDOUT" '^       openssl x509 -req -in .*server-eku-client\.csr -CA .*ca\.crt -CAkey .*ca\.key'
    doctor @intermediate-client.crt --crl @ca.crl
    assert_output_has "$RUN_STDOUT" '^  fix: cat .*ca\.crl .*intermediate-ca\.crl > all\.crl'
}

# Every certificate gen-certs.sh makes is in one of the tables (the CAs are only issuers).
test_every_fixture_is_checked() {
    local file name missing=""
    for file in "$CERTS"/*.crt; do
        name=$(basename "$file" .crt)
        case $name in ca | other-ca | intermediate-ca) continue ;; esac
        grep -Eq "^$name +\|" <<<"$CLIENT_FIXTURES$SERVER_FIXTURES" || missing+=" $name"
    done
    assertEquals 'fixtures the doctor is not tested on' '' "$missing"
}

test_usage_errors_exit_2_naming_the_problem() {
    local args status pattern words
    while IFS='|' read -r args status pattern; do
        [[ -n ${args// /} ]] || continue
        read -ra words <<<"$args"
        doctor "${words[@]}"
        assert_run "${status// /}" "${pattern# }" || return
    done <<'EOF'
@nope.crt                        | 2 | cannot read the certificate file '.*nope\.crt'
@client.crt --bogus              | 2 | unknown option '--bogus'
@client.crt --key @nope.key      | 2 | cannot read the key file .*nope\.key
@client.crt --crl @nope.crl      | 2 | cannot read the CRL file .*nope\.crl
@client.crt --for both           | 2 | --for must be client or server
@client.crt --host localhost     | 2 | --host is for --for server
@ca.crl                          | 2 | ca\.crl' holds no PEM certificate
@client.crt --key @client.crt    | 2 | client\.crt' is not a private key
--for server                     | 2 | which certificate\?
EOF
}

# PKCS#12 files (scripts/gen-certs.sh's password): opened with --password, the legacy one too; the
# key inside is checked; a missing or wrong password is a usage error.
P12_CHECKS='
client.p12        | --password mtls-by-example | 0 | ✓ the key in .*client\.p12 is its private key
client-legacy.p12 | --password mtls-by-example | 0 | ✓ it chains to CN=mtls-by-example CA
other-client.p12  | --password mtls-by-example | 1 | ✗ its chain ends at CN=Other CA, a root CA
'
test_p12_files_are_opened_with_their_password() {
    local fixture args status pattern words problems=''
    while IFS='|' read -r fixture args status pattern; do
        fixture=${fixture// /}
        [[ -n $fixture ]] || continue
        read -ra words <<<"$args"
        status=${status// /} pattern=${pattern# }
        doctor "@$fixture" "${words[@]}"
        [[ $RUN_STATUS == "$status" ]] && grep -Eq -e "$pattern" <<<"$RUN_STDOUT" ||
            problems+="$fixture $args: wanted exit $status and /$pattern/, got $RUN_STATUS: $RUN_STDOUT $RUN_STDERR"$'\n'
    done <<<"$P12_CHECKS"
    assertEquals 'the doctor on .p12 files' '' "$problems"
    doctor @client.p12
    assert_run 2 "client\.p12' is a PKCS#12 file: give its password with --password" || return
    doctor @client.p12 --password wrong
    assert_run 2 "cannot open the PKCS#12 file '.*client\.p12' with that password"
}

# --- Certificates made by the tests below, signed by a copy of our CA --------------------------------

CLIENT_EXT='basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth'

# copy_of_our_ca DIR: DIR gets a copy of our CA (ca.crt, ca.key) and what `openssl ca` needs to sign with it
# at chosen dates, or publish a CRL with chosen dates: ca.cnf and db/ (paths relative to DIR, whose
# own name may hold anything).
copy_of_our_ca() {
    local dir=$1
    mkdir -p "$dir/db" && cp "$CERTS/ca.crt" "$CERTS/ca.key" "$dir"/ && : >"$dir/db/index" &&
        echo 01 >"$dir/db/crlnumber" &&
        printf '%s\n' '[ ca ]' 'default_ca = this_ca' '[ this_ca ]' 'certificate = ca.crt' \
            'private_key = ca.key' 'database = db/index' 'crlnumber = db/crlnumber' 'new_certs_dir = db' \
            'rand_serial = yes' 'unique_subject = no' 'default_md = sha256' 'default_crl_days = 30' \
            'policy = any' 'copy_extensions = none' '[ any ]' 'commonName = supplied' >"$dir/ca.cnf"
}

# sign DIR NAME SUBJECT EXTENSIONS [OPENSSL CA OPTIONS...]: DIR/NAME.key (RSA, KEY_BITS bits,
# default 2048) and DIR/NAME.crt, with SUBJECT (-subj form) and the extension lines EXTENSIONS,
# signed by copy_of_our_ca's copy of our CA in DIR; valid 30 days unless the options say otherwise
# (-startdate, -enddate; -md sha1...).
sign() {
    local dir=$1 name=$2 subject=$3 extensions=$4 log
    shift 4
    _lib_scratch sign.log; log=$LIB_SCRATCH
    if ! (cd "$dir" && printf '%s\n' "$extensions" >"$name.ext" &&
          openssl genrsa -out "$name.key" "${KEY_BITS:-2048}" &&
          openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr" &&
          openssl ca -config ca.cnf -batch -notext -days 30 -in "$name.csr" -extfile "$name.ext" \
              -subj "$subject" "$@" -out "$name.crt") >"$log" 2>&1; then
        fail "could not make $name: $(cat "$log")"
        return 1
    fi
}

# Every fix line is a command a learner pastes into bash. A subject and a folder name with quotes,
# $(...) and backquotes must stay text: pasted, each line runs with nothing of theirs executed, and
# the re-issued certificate keeps the subject exactly.
test_pasted_fix_lines_run_nothing_from_the_certificate_or_its_folder() {
    local dir=$LIB_TMP/"certs'\$(touch PWNED)'\`touch PWNED\`" paste=$LIB_TMP/paste
    local name="client'\$(touch PWNED)'" cn="a'\$(touch PWNED)'b \"\$(touch PWNED)\" \`touch PWNED\`"
    local line pasted=0 subject
    mkdir -p "$paste"
    copy_of_our_ca "$dir" && cp "$CERTS/server.key" "$dir/other.key" &&
        sign "$dir" "$name" "/CN=$cn" "$CLIENT_EXT" -startdate 20200101000000Z -enddate 20210101000000Z || return
    subject=$(openssl x509 -in "$dir/$name.crt" -noout -subject -nameopt RFC2253)
    # Expired (a re-issue: key, CSR with the subject, signature) and with a key of another
    # certificate (a comparison of public keys naming the file).
    doctor "$dir/$name.crt" --ca "$dir/ca.crt" --key "$dir/other.key"
    assert_output_has "$RUN_STDOUT" '^✗ .*has expired' 'the doctor on the expired certificate' || return
    while IFS= read -r line; do
        [[ $line == '  fix: '* || $line == '       '* ]] || continue
        line=${line#'  fix: '} line=${line#'       '}
        pasted=$((pasted + 1))
        (cd "$paste" && timeout 30 bash -c "$line") </dev/null >/dev/null 2>&1 || true
    done <<<"$RUN_STDOUT"
    assertTrue "fix lines to paste (got $pasted) in: $RUN_STDOUT" "[[ $pasted -ge 6 ]]" || return
    assertEquals "files made by what the certificate or its folder name holds; the fix lines: $RUN_STDOUT" \
        '' "$(find "$LIB_TMP" -name PWNED)" || return
    assertEquals 'the re-issued certificate has the same subject' "$subject" \
        "$(openssl x509 -in "$dir/$name.crt" -noout -subject -nameopt RFC2253 2>&1)" || return
    openssl x509 -in "$dir/$name.crt" -noout -checkend 0 >/dev/null
    assertEquals 'the re-issued certificate is valid now (openssl x509 -checkend 0)' 0 $?
}

# A file name with '=' is a file: awk would take the operand a=b.crt for a variable assignment.
test_file_name_with_an_equals_sign_is_read_as_a_file() {
    cp "$CERTS/client.crt" "$LIB_TMP/a=b.crt"
    run_program --in "$LIB_TMP" "$DOCTOR" --ca "$CERTS/ca.crt" a=b.crt
    assertEquals "exit status (stdout: $RUN_STDOUT stderr: $RUN_STDERR)" 0 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDOUT" '^verdict: accepted$'
}

# The .p12 password never is an argument of openssl (any user sees those with ps): env: or fd:.
# Given in CERT_DOCTOR_PASSWORD instead of --password, it is on no command line at all.
test_p12_password_is_on_no_openssl_command_line() {
    local bin=$LIB_TMP/argv-bin log=$LIB_TMP/doctor-argv.log password="doctor-secret-$RANDOM$RANDOM"
    argv_recorder "$bin" || { fail 'no openssl to wrap'; return; }
    TEST_P12_PASSWORD=$password openssl pkcs12 -export -inkey "$CERTS/client.key" -in "$CERTS/client.crt" \
        -certfile "$CERTS/ca.crt" -passout env:TEST_P12_PASSWORD -out "$LIB_TMP/secret.p12" || { fail 'no .p12'; return; }
    : >"$log"
    PATH=$bin:$PATH ARGV_LOG=$log doctor "$LIB_TMP/secret.p12" --password "$password"
    assertEquals "exit status (stdout: $RUN_STDOUT stderr: $RUN_STDERR)" 0 "$RUN_STATUS" || return
    assert_output_has "$(cat "$log")" '^pkcs12$' 'openssl pkcs12 ran through the recorder' || return
    assertEquals 'openssl arguments holding the password' '' "$(grep -F -e "$password" -e 'pass:' "$log")" || return
    CERT_DOCTOR_PASSWORD=$password doctor "$LIB_TMP/secret.p12"
    assertEquals "with CERT_DOCTOR_PASSWORD: exit status (stdout: $RUN_STDOUT stderr: $RUN_STDERR)" 0 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDOUT" '^✓ the key in .*secret\.p12 is its private key'
}

# Chapter 03 keeps libssl's security level 2: an RSA-1024 key, or a SHA-1 signature by our own CA,
# gets 403 ("EE certificate key too weak", "CA signature digest algorithm too weak"). The doctor
# says so, and the fix makes a 2048-bit key or signs with SHA-256.
test_weak_key_or_sha1_signature_is_refused_as_chapter_03_refuses_it() {
    local dir=$LIB_TMP/weak fixture
    copy_of_our_ca "$dir" && KEY_BITS=1024 sign "$dir" rsa1024-client /CN=rsa1024-client "$CLIENT_EXT" &&
        sign "$dir" sha1-client /CN=sha1-client "$CLIENT_EXT" -md sha1 || return
    doctor "$dir/rsa1024-client.crt" --ca "$dir/ca.crt"
    assertEquals "exit status (stdout: $RUN_STDOUT)" 1 "$RUN_STATUS" || return
    assertEquals 'the report' '' "$(check_report rsa1024-client 1)" || return
    assert_output_has "$RUN_STDOUT" '^✗ its key is too weak \(RSA 1024 bits.*security level 2.*\(OpenSSL: EE certificate key too weak\)' || return
    assert_output_has "$RUN_STDOUT" '^  fix: openssl genrsa -out .*rsa1024-client\.key 2048$' || return
    doctor "$dir/sha1-client.crt" --ca "$dir/ca.crt"
    assertEquals "exit status (stdout: $RUN_STDOUT)" 1 "$RUN_STATUS" || return
    assertEquals 'the report' '' "$(check_report sha1-client 1)" || return
    assert_output_has "$RUN_STDOUT" '^✗ CN=sha1-client is signed with sha1WithRSAEncryption.*\(OpenSSL: CA signature digest algorithm too weak\)' || return
    assert_output_has "$RUN_STDOUT" '^       openssl x509 -req .* -sha256 .*-out .*sha1-client\.crt$' || return
    doctor @client.crt
    assert_output_has "$RUN_STDOUT" '^✓ its key and signature are strong enough for OpenSSL.s security level 2.*RSA 2048 bits' || return
    require_program "$SERVER" 2>/dev/null || { skip_test "$SERVER is not built; run 'make'"; return; }
    shared_server plain "$SERVER" || return
    for fixture in rsa1024-client sha1-client; do
        # Level 0 on our side, or OpenSSL would not even send such a certificate.
        CERTS=$dir TLS_CLIENT=$fixture s_client_request 'GET / HTTP/1.0\r\n\r\n' -cipher 'DEFAULT@SECLEVEL=0'
        assertEquals "chapter 03's answer to $fixture (s_client: $SCLIENT_OUTPUT)" 403 "$SCLIENT_STATUS" || return
    done
}

# The 04 client takes a wildcard only as the whole leftmost label (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
# openssl x509 -checkhost and openssl verify take w*.example.com for www.example.com.
test_partial_wildcard_is_refused_as_the_04_client_refuses_it() {
    local dir=$LIB_TMP/wildcards host status pattern
    copy_of_our_ca "$dir" && sign "$dir" wildcard-server /CN=wildcard-server "basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:w*.example.com, DNS:*.example.org" || return
    while IFS='|' read -r host status pattern; do
        host=${host// /} status=${status// /} pattern=${pattern# }
        [[ -n $host ]] || continue
        doctor "$dir/wildcard-server.crt" --ca "$dir/ca.crt" --for server --host "$host"
        assertEquals "exit status for $host (stdout: $RUN_STDOUT)" "$status" "$RUN_STATUS" || return
        assertEquals 'the report' '' "$(check_report "wildcard-server for $host" "$status")" || return
        assert_output_has "$RUN_STDOUT" "$pattern" "for $host" || return
    done <<'EOF'
www.example.com      | 1 | ^✗ it covers www\.example\.com only through DNS:w\*\.example\.com, a wildcard that is not the whole leftmost label
wexample.example.com | 1 | ^✗ .*only through DNS:w\*\.example\.com
www.example.org      | 0 | ^✓ its subjectAltName covers www\.example\.org
a.b.example.org      | 1 | ^✗ it is not for a\.b\.example\.org
example.org          | 1 | ^✗ it is not for example\.org
EOF
}

# A CRL past its next update: chapter 03 answers 403 ("CRL has expired") to every client of that
# CA, so the doctor says that, once, and does not also say the CRL lets the certificate in.
test_stale_crl_gets_one_verdict() {
    local dir=$LIB_TMP/stale log
    _lib_scratch stale-crl.log; log=$LIB_SCRATCH
    copy_of_our_ca "$dir" || return
    (cd "$dir" && openssl ca -config ca.cnf -batch -gencrl -crl_lastupdate 20240101000000Z \
        -crl_nextupdate 20240201000000Z -out stale.crl) >"$log" 2>&1 || { fail "no CRL: $(cat "$log")"; return; }
    doctor @client.crt --crl "$dir/stale.crl"
    assertEquals "exit status (stdout: $RUN_STDOUT)" 1 "$RUN_STATUS" || return
    assertEquals 'the report' '' "$(check_report client-with-stale-crl 1)" || return
    assert_output_has "$RUN_STDOUT" '^✗ the CRL from CN=mtls-by-example CA in .*stale\.crl was due for its next update on 2024-02-01 .*\(OpenSSL: CRL has expired\)' || return
    assertEquals "✗ lines (one verdict on the CRL) in: $RUN_STDOUT" 1 "$(grep -c '^✗ ' <<<"$RUN_STDOUT")" || return
    if grep -q 'none lists it' <<<"$RUN_STDOUT"; then fail "says the CRL lets it in: $RUN_STDOUT"; fi
}

# The doctor's verdict on each client certificate is chapter 03's: accepted = 200, refused = 403.
test_doctor_agrees_with_chapter_03() {
    require_program "$SERVER" 2>/dev/null || { skip_test "$SERVER is not built; run 'make'"; return; }
    local crl fixture wanted disagree=""
    for crl in '' all.crl intermediate-ca.crl all-intermediate-revoked.crl; do
        if [[ -z $crl ]]; then shared_server plain "$SERVER" || return
        else shared_server "with-$crl" "$SERVER" --crl "$CERTS/$crl" || return; fi
        for fixture in client ecdsa-client intermediate-client other-client expired-client \
                       not-yet-valid-client self-signed-client server-eku-client leaf-signed-client \
                       revoked-client; do
            doctor "@$fixture.crt" ${crl:+--crl "@$crl"}
            wanted=403
            [[ $RUN_STATUS != 0 ]] || wanted=200
            TLS_CLIENT=$fixture curl_get /
            [[ $CURL_STATUS == "$wanted" ]] ||
                disagree+=" $fixture${crl:+ (--crl $crl)}: doctor exit $RUN_STATUS, 03 answered $CURL_STATUS;"
        done
    done
    assertEquals 'doctor and chapter 03 disagree' '' "$disagree"
}

. "$SHUNIT2"
