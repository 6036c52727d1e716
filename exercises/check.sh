#!/usr/bin/env bash
# exercises/check.sh N [SOURCE | --solution]: checks your answer to exercise N (see
# exercises/README.md). It builds your file into a temporary directory, starts it on a free port
# with a copy of the test certificates, runs the exercise's scenarios with curl, and prints PASS or
# FAIL for each, with a hint for each FAIL. Exit 0 when every scenario passes, 1 when not, 2 on
# bad arguments.
#
#   N           1, 2, 3 or 4
#   SOURCE      your file; default: the one the exercise's README tells you to create
#               (exercises/01-refuse-in-handshake/server.c, exercises/02-allowed-subjects/server.c,
#               exercises/03-rotate-ca/rotate.sh, exercises/04-resume-session/client.c)
#   --solution  check the reference solution instead (spoiler: it is built from solution.diff or
#               solution/ in the exercise's folder)
#
# Certificates come from certs/ when `make certs` made them, else scripts/gen-certs.sh makes a set
# (EXERCISE_CERTS=DIR uses DIR instead). Nothing in the repository is changed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 && $1 =~ ^[1-4]$ ]] || usage
EXERCISE=$1
CHAPTER_03=03-custom-ca-validation/server.c
BASE=$CHAPTER_03   # the file a learner copies to start, and the solution.diff applies to
case $EXERCISE in
    1) DIR=exercises/01-refuse-in-handshake TITLE='refuse untrusted clients in the handshake' FILE=server.c ;;
    2) DIR=exercises/02-allowed-subjects TITLE='allow only certain client subjects' FILE=server.c ;;
    3) DIR=exercises/03-rotate-ca TITLE='rotate to a new CA without downtime' FILE=rotate.sh ;;
    4) DIR=exercises/04-resume-session TITLE='resume the TLS session across runs (04 client)' FILE=client.c
       BASE=04-client/client.c ;;
esac
SOURCE=${2:-$DIR/$FILE}

# The start/stop and curl helpers are the ones the tests use.
# shellcheck source=tests/lib.sh
. tests/lib.sh
LIB_TMP=$(mktemp -d)
trap 'cleanup_test; rm -rf "$LIB_TMP"' EXIT
unset SSLKEYLOGFILE http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY

if [[ -t 1 ]]; then green=$'\e[32m' red=$'\e[31m' bold=$'\e[1m' plain=$'\e[0m'
else green='' red='' bold='' plain=''
fi

echo "${bold}Exercise $EXERCISE: $TITLE${plain}"

# --- The file to check -----------------------------------------------------------------------------

if [[ $SOURCE == --solution ]]; then
    SOURCE=$LIB_TMP/solution-$FILE
    if [[ -f $DIR/solution.diff ]]; then
        if ! patch -s -o "$SOURCE" "$BASE" "$DIR/solution.diff" >"$LIB_TMP/patch.log" 2>&1; then
            echo "${red}The reference solution $DIR/solution.diff no longer applies to $BASE:${plain}"
            cat "$LIB_TMP/patch.log"
            exit 1
        fi
    else
        cp "$DIR/solution/$FILE" "$SOURCE"
    fi
    SOURCE_SHOWN=$DIR/solution/$FILE
    [[ ! -f $DIR/solution.diff ]] || SOURCE_SHOWN="$BASE + $DIR/solution.diff"
    echo "Checking the reference solution ($SOURCE_SHOWN)."
else
    SOURCE_SHOWN=$SOURCE
    if [[ ! -f $SOURCE ]]; then
        echo "${red}There is no $SOURCE yet.${plain} Start from the README: $DIR/README.md"
        if [[ $FILE == *.c ]]; then
            echo "  cp $BASE $SOURCE    # then edit it"
        else
            echo "  cp $DIR/start.sh $SOURCE    # then edit it"
        fi
        exit 1
    fi
    echo "Checking $SOURCE."
fi

# --- Certificates: a private copy, so that nothing in certs/ changes --------------------------------

CERTS=$LIB_TMP/certs
mkdir -p "$CERTS"

# copy_files DIR: copies the files of DIR into $CERTS, and only files: a folder such as
# certs/article (scripts/article-certs.sh's certificates, in chapter 03's README) stays out.
copy_files() {
    local file
    for file in "$1"/*; do
        [[ ! -f $file ]] || cp -p "$file" "$CERTS"/
    done
}

if [[ -n ${EXERCISE_CERTS:-} && -f $EXERCISE_CERTS/ca.crt ]]; then
    copy_files "$EXERCISE_CERTS"
elif [[ -f certs/ca.crt && -f certs/ecdsa-client.crt && -f certs/other-client.crt ]]; then
    copy_files certs
else
    echo "Making the test certificates (scripts/gen-certs.sh; 'make certs' keeps a set in certs/)..."
    if ! timeout 300 scripts/gen-certs.sh "$CERTS" >"$LIB_TMP/gen-certs.log" 2>&1; then
        cat "$LIB_TMP/gen-certs.log"
        exit 1
    fi
fi

# --- Scenarios --------------------------------------------------------------------------------------

passed=0 failed=0

# report OK DESCRIPTION GOT HINT: prints one PASS or FAIL line (and the hint on FAIL).
report() {
    if [[ $1 == ok ]]; then
        echo "  ${green}PASS${plain}  $2"
        passed=$((passed + 1))
    else
        echo "  ${red}FAIL${plain}  $2"
        echo "        got: $3"
        echo "        hint: $4"
        failed=$((failed + 1))
    fi
}

# expect FIXTURE WANTED DESCRIPTION HINT: one request to / presenting $CERTS/FIXTURE.crt (or no
# certificate when FIXTURE is -). WANTED: 200 (Hello World!), 403 (empty body), refused (no
# HTTP answer: the server ended the TLS handshake) or untrusted (curl refused the server's
# certificate, exit 60). CURL_CA=FILE makes curl trust FILE instead of ca.crt.
expect() {
    local fixture=$1 wanted=$2 description=$3 hint=$4 got ok=no
    [[ $fixture != - ]] || fixture=''
    mark_log
    TLS_CLIENT=$fixture curl_get /
    if [[ $CURL_STATUS == 000 ]]; then
        got="no HTTP answer (curl exit $CURL_EXIT: ${CURL_ERROR%%$'\n'*})"
    else
        got="HTTP $CURL_STATUS${CURL_BODY:+, body '$CURL_BODY'}"
    fi
    case $wanted in
        200) [[ $CURL_STATUS == 200 && $CURL_BODY == 'Hello World!' ]] && ok=ok ;;
        403) [[ $CURL_STATUS == 403 && -z $CURL_BODY ]] && ok=ok ;;
        refused) [[ $CURL_STATUS == 000 && $CURL_EXIT =~ ^(35|52|56)$ ]] && ok=ok ;;
        untrusted) [[ $CURL_STATUS == 000 && $CURL_EXIT == 60 ]] && ok=ok ;;  # curl refused the server
    esac
    if [[ $ok != ok && -n ${CURL_LOCAL_PORT:-} ]] && wait_for_log ":$CURL_LOCAL_PORT " 1; then
        got+="; server log: $(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG" | grep -F ":$CURL_LOCAL_PORT " | paste -sd '|' | sed 's/|/ | /g')"
    fi
    report "$ok" "$description" "$got" "$hint"
}

# build SOURCE: compiles SOURCE into $LIB_TMP/server (sets PROGRAM), as the Makefile does.
build() {
    local cflags libs
    cflags=$(pkg-config --cflags openssl 2>/dev/null)
    libs=$(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
    PROGRAM=$LIB_TMP/${FILE%.c}
    # shellcheck disable=SC2086  # the flags are words
    if ! cc -O1 -g -Wall -Wextra $cflags -o "$PROGRAM" "$1" $libs -lpthread >"$LIB_TMP/cc.log" 2>&1; then
        echo "${red}$SOURCE_SHOWN does not compile:${plain}"
        cat "$LIB_TMP/cc.log"
        exit 1
    fi
    if [[ -s $LIB_TMP/cc.log ]]; then
        echo "The compiler warns (fix these too, \`make\` treats warnings as errors):"
        cat "$LIB_TMP/cc.log"
    fi
}

# start PROGRAM ARGS...: starts the server, or says why it did not start and exits.
start() {
    if ! start_server "$@" 2>"$LIB_TMP/start.err"; then
        echo "${red}The server did not start:${plain}"
        cat "$LIB_TMP/start.err"
        exit 1
    fi
}

# expect_log PATTERN DESCRIPTION HINT: the server logged, since the last expect, a line matching
# the extended regular expression PATTERN (case-insensitive).
expect_log() {
    local got
    if wait_for_log "$1" 3; then
        report ok "$2"
    else
        got=$(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG" | paste -sd '|' | sed 's/|/ | /g')
        report no "$2" "server log: ${got:-(nothing)}" "$3"
    fi
}

exercise_1() {
    build "$SOURCE"
    start "$PROGRAM"
    expect client 200 "our client (CN=client, issued by our CA): 200 Hello World!" \
        "a trusted client must still get in: return preverify_ok, not 0, from the verify callback"
    expect other-client refused "a client from another CA (other-client): refused in the handshake" \
        "the verify callback decides: it returns 1 (\"carry on\") whatever preverify_ok says; returning preverify_ok ends the handshake with an alert"
    expect_log 'other-client.*unable to get local issuer certificate' \
        "the log names the refused certificate (other-client) and why (unable to get local issuer certificate)" \
        "OpenSSL's own line only says 'certificate verify failed'. In the verify callback, when preverify_ok is 0, print the subject of X509_STORE_CTX_get_current_cert() and X509_verify_cert_error_string(X509_STORE_CTX_get_error())"
    expect expired-client refused "an expired client certificate: refused in the handshake" \
        "preverify_ok is 0 for an expired certificate too; return it from the verify callback (keep_first_problem_and_finish_handshake())"
    expect_log 'expired-client.*certificate has expired' \
        "the log names the expired certificate and says it has expired" \
        "print the verification error of the certificate the callback is looking at, not a fixed sentence"
    expect server-eku-client refused "a certificate not meant for clients (EKU serverAuth only): refused in the handshake" \
        "SSL_CTX_set_purpose() makes this a verification failure; it ends the handshake once the callback returns preverify_ok"
    expect - refused "no client certificate at all: still refused in the handshake" \
        "keep SSL_VERIFY_FAIL_IF_NO_PEER_CERT in require_client_certificate()"
}

exercise_2() {
    build "$SOURCE"
    start "$PROGRAM"
    expect client 200 "CN=client, issued by our CA and on the list: 200 Hello World!" \
        "compare the whole subject as text, e.g. \"CN=client\" with name_to_text(X509_get_subject_name(cert), ...)"
    expect ecdsa-client 403 "CN=ecdsa-client, issued by our CA but not on the list: 403, empty body" \
        "a trusted chain is not enough: after client_is_trusted(), route() must also check the subject against the allowed list"
    expect intermediate-client 403 "CN=intermediate-client, issued through our intermediate CA, not on the list: 403" \
        "every certificate that is not exactly on the list gets 403"
    expect other-client 403 "CN=other-client, from another CA: still 403" \
        "check the list only after client_is_trusted(): a stranger's CA can put any name in a certificate, even CN=client"
    expect - refused "no client certificate at all: still refused in the handshake" \
        "leave require_client_certificate() as it is"
    # A certificate from another CA that claims the allowed name: the list alone must not let it in.
    make_impostor && expect impostor-client 403 \
        "CN=client issued by another CA (an impostor): 403" \
        "the subject is only worth checking once the chain is trusted: test client_is_trusted() first, then the list"
    # Our CA's certificate for a name that merely begins with, or contains, the allowed one.
    make_lookalike && expect lookalike-client 403 \
        "CN=client-evil, issued by our CA: 403 (the whole subject must match, not a part of it)" \
        "compare with strcmp(): strstr() or strncmp() with the allowed name's length let CN=client-evil in"
}

# make_lookalike: CN=client-evil, EKU clientAuth, issued by our own CA (in $CERTS).
make_lookalike() {
    local ext=$LIB_TMP/lookalike.ext
    printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, digitalSignature' \
        'extendedKeyUsage = clientAuth' >"$ext"
    (cd "$CERTS" &&
        openssl req -new -newkey rsa:2048 -nodes -keyout lookalike-client.key -subj /CN=client-evil \
            -out lookalike-client.csr &&
        openssl x509 -req -in lookalike-client.csr -CA ca.crt -CAkey ca.key \
            -CAcreateserial -days 30 -extfile "$ext" -out lookalike-client.crt) >"$LIB_TMP/lookalike.log" 2>&1 || {
        echo "Could not make the look-alike certificate:"; cat "$LIB_TMP/lookalike.log"; return 1; }
}

# make_impostor: CN=client, EKU clientAuth, issued by other-ca (in $CERTS).
make_impostor() {
    local ext=$LIB_TMP/impostor.ext
    printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, digitalSignature' \
        'extendedKeyUsage = clientAuth' >"$ext"
    (cd "$CERTS" &&
        openssl req -new -newkey rsa:2048 -nodes -keyout impostor-client.key -subj /CN=client \
            -out impostor-client.csr &&
        openssl x509 -req -in impostor-client.csr -CA other-ca.crt -CAkey other-ca.key \
            -CAcreateserial -days 30 -extfile "$ext" -out impostor-client.crt) >"$LIB_TMP/impostor.log" 2>&1 || {
        echo "Could not make the impostor certificate:"; cat "$LIB_TMP/impostor.log"; return 1; }
}

exercise_3() {
    local chapter_03
    chapter_03=$(program_path 03-custom-ca-validation/server)
    if [[ ! -x $chapter_03 ]]; then
        echo "${red}$chapter_03 is not built; run 'make' first.${plain}"
        exit 1
    fi
    echo "Running: bash $SOURCE_SHOWN $CERTS"
    if ! (cd "$ROOT" && timeout 120 bash "$SOURCE" "$CERTS") >"$LIB_TMP/rotate.log" 2>&1; then
        echo "${red}The script failed:${plain}"
        tail -n 20 "$LIB_TMP/rotate.log"
        exit 1
    fi
    local missing='' name
    for name in new-ca.crt new-ca.key new-client.crt new-client.key trust-both.crt; do
        [[ -f $CERTS/$name ]] || missing+=" $name"
    done
    if [[ -n $missing ]]; then
        echo "${red}The script did not make:$missing${plain} (in the directory given as its argument)"
        exit 1
    fi

    echo "Step 1, during the rotation: $chapter_03 --ca certs/trust-both.crt"
    start "$chapter_03" --ca "$CERTS/trust-both.crt"
    expect client 200 "a client still on the old CA: 200 (no downtime for it)" \
        "trust-both.crt must hold the old ca.crt as well as new-ca.crt: cat certs/ca.crt certs/new-ca.crt > certs/trust-both.crt"
    expect new-client 200 "a client already moved to the new CA: 200" \
        "trust-both.crt must hold new-ca.crt, and new-client.crt must be issued by new-ca (openssl x509 -req -CA new-ca.crt -CAkey new-ca.key) with extendedKeyUsage = clientAuth"
    expect other-client 403 "a client from an unrelated CA: still 403" \
        "trust-both.crt must hold only our two CAs"
    stop_server >/dev/null 2>&1

    echo "Step 2, once every client has moved: $chapter_03 --ca certs/new-ca.crt"
    start "$chapter_03" --ca "$CERTS/new-ca.crt"
    expect new-client 200 "a client on the new CA: 200" \
        "new-ca.crt must be a CA certificate (basicConstraints CA:TRUE) that signed new-client.crt"
    expect client 403 "a client still on the old CA: now 403 (the old CA is retired)" \
        "new-ca.crt must be a new CA with its own key, not a copy of ca.crt"
    stop_server >/dev/null 2>&1

    echo "Step 3, the server's own certificate: $chapter_03 --cert certs/new-server.crt --key certs/new-server.key --ca certs/trust-both.crt"
    if [[ ! -f $CERTS/new-server.crt || ! -f $CERTS/new-server.key ]]; then
        report no "the script re-issues the server's certificate under the new CA" \
            "no new-server.crt and new-server.key in the directory given as the script's argument" \
            "TODO 2: a key, a CSR with -subj /CN=localhost, and openssl x509 -req -CA new-ca.crt -CAkey new-ca.key with an extension file holding extendedKeyUsage = serverAuth and the subjectAltName of server.crt"
        return
    fi
    check_new_server_certificate
    start "$chapter_03" --cert "$CERTS/new-server.crt" --key "$CERTS/new-server.key" --ca "$CERTS/trust-both.crt"
    CURL_CA=$CERTS/trust-both.crt expect client 200 \
        "a client that trusts both CAs (curl --cacert trust-both.crt) accepts the re-issued server certificate for localhost" \
        "new-server.crt must be issued by new-ca, with extendedKeyUsage = serverAuth and subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1 (copy the server.ext of scripts/gen-certs.sh)"
    CURL_CA=$CERTS/ca.crt expect client untrusted \
        "a client that trusts only the old CA refuses it: that is why clients get trust-both.crt first" \
        "new-server.crt must be signed by new-ca.key, not by the old ca.key"
}

# check_new_server_certificate: what curl alone does not check in new-server.crt. curl takes a
# certificate without extendedKeyUsage for any purpose, and without a subjectAltName reads the name
# from the subject CN, so a certificate with no extensions at all would pass it for localhost. The
# 04 client (and every browser) reads only the subjectAltName, and the server answers on
# 127.0.0.1 and ::1 as well: new-server.crt needs what server.crt has.
check_new_server_certificate() {
    local crt=$CERTS/new-server.crt out eku san name missing=''
    if out=$(openssl verify -CAfile "$CERTS/new-ca.crt" -purpose sslserver "$crt" 2>&1) &&
       eku=$(openssl x509 -in "$crt" -noout -ext extendedKeyUsage 2>&1) && [[ $eku == *'TLS Web Server Authentication'* ]]; then
        report ok "new-server.crt is issued by new-ca for a TLS server (openssl verify -purpose sslserver; extendedKeyUsage serverAuth)"
    else
        report no "new-server.crt is issued by new-ca for a TLS server (openssl verify -purpose sslserver; extendedKeyUsage serverAuth)" \
            "$(paste -sd ' ' <<<"$out") extendedKeyUsage: ${eku:-none}" \
            "sign it with -CA new-ca.crt -CAkey new-ca.key and -extfile new-server.ext, a file holding extendedKeyUsage = serverAuth (x509 -req drops what the CSR asks for)"
    fi
    san=$(openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | sed -n 's/^ \{1,\}//p' | paste -sd ' ' -)
    [[ ", $san, " == *", DNS:localhost, "* ]] || missing+=" DNS:localhost"
    for name in 127.0.0.1 ::1; do
        openssl x509 -in "$crt" -noout -checkip "$name" 2>/dev/null | grep -q ' does match' || missing+=" IP:$name"
    done
    if [[ -z $missing ]]; then
        report ok "its subjectAltName names localhost, 127.0.0.1 and ::1, as server.crt's does (the 04 client reads no CN)"
    else
        report no "its subjectAltName names localhost, 127.0.0.1 and ::1, as server.crt's does (the 04 client reads no CN)" \
            "subjectAltName: ${san:-none}; missing:$missing" \
            "new-server.ext needs subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1 (the server.ext of scripts/gen-certs.sh)"
    fi
}

# The 04 client keeps its TLS session in a file and offers it again on the next run.
exercise_4() {
    local port out status
    build "$SOURCE"
    port=$(free_port)
    # openssl s_server -www answers with a page that says whether the session was New or Reused.
    if ! start_peer "$port" openssl s_server -accept "$port" -cert "$CERTS/server.crt" \
            -key "$CERTS/server.key" -CAfile "$CERTS/ca.crt" -Verify 1 -verify_return_error -www -quiet \
            2>"$LIB_TMP/peer.err"; then
        echo "${red}openssl s_server did not start:${plain}"; cat "$LIB_TMP/peer.err"; exit 1
    fi
    local session=$LIB_TMP/session.pem url="https://localhost:$port/"
    run_client() {
        status=0
        out=$(cd "$ROOT" && timeout 20 "$PROGRAM" --ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" \
              --key "$CERTS/client.key" "$@" "$url" 2>&1) || status=$?
    }

    run_client --session "$session"
    if [[ $status == 0 && $out == *'New, TLS'* ]]; then report ok "first run with --session FILE: exit 0, a new session"
    else report no "first run with --session FILE: exit 0, a new session" "exit $status: ${out:0:300}" \
        "accept --session FILE in parse_command_line() (and in usage()); a file that does not exist yet is not an error"
    fi
    if [[ -s $session ]] && grep -q 'BEGIN SSL SESSION PARAMETERS' "$session"; then
        report ok "the session is saved in FILE (PEM_write_SSL_SESSION)"
    else report no "the session is saved in FILE (PEM_write_SSL_SESSION)" "$(head -c 200 "$session" 2>/dev/null || echo 'no file')" \
        "after reading the answer (TLS 1.3 sends the session ticket after the handshake), write SSL_get1_session() with PEM_write_SSL_SESSION()"
    fi
    if [[ -f $session && $(ls -l "$session" | cut -c1-10) == -rw------- ]]; then
        report ok "FILE is readable by its owner only (it holds the session's secret)"
    else report no "FILE is readable by its owner only (it holds the session's secret)" "$(ls -l "$session" 2>&1)" \
        "create it with open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) and fdopen(), not fopen()"
    fi
    # A file that already exists keeps its mode through open(): the answer must narrow it.
    local existing=$LIB_TMP/existing-session.pem
    : >"$existing" && chmod 644 "$existing"
    run_client --session "$existing"
    if [[ $(ls -l "$existing" | cut -c1-10) == -rw------- ]]; then
        report ok "an existing FILE that others could read is made readable by its owner only"
    else report no "an existing FILE that others could read is made readable by its owner only" "$(ls -l "$existing" 2>&1)" \
        "open()'s mode applies only when it creates the file: fchmod(fd, 0600) an existing one before writing the secret"
    fi
    run_client --session "$session"
    if [[ $status == 0 && $out == *'Reused, TLS'* ]]; then report ok "second run: the server resumes the session (s_server says Reused)"
    else report no "second run: the server resumes the session (s_server says Reused)" "exit $status: ${out:0:300}" \
        "before SSL_connect(), read the file with PEM_read_SSL_SESSION() and offer it with SSL_set_session()"
    fi
    if [[ $out == *'session resumed'* ]]; then report ok "the summary line says 'session resumed' (SSL_session_reused())"
    else report no "the summary line says 'session resumed' (SSL_session_reused())" "${out##*$'\n'}" \
        "append '; session resumed' to the summary line when SSL_session_reused() says so"
    fi
    echo 'not a session' >"$session"
    run_client --session "$session"
    if [[ $status == 0 && $out == *'New, TLS'* && $out == *"$session"* ]]; then
        report ok "a file that holds no session: named in a warning, then a full handshake"
    else report no "a file that holds no session: named in a warning, then a full handshake" "exit $status: ${out:0:300}" \
        "when PEM_read_SSL_SESSION() returns NULL, print a sentence naming the file, and carry on without it"
    fi
    run_client
    if [[ $status == 0 && $out == *'New, TLS'* && $out != *'session resumed'* ]]; then
        report ok "without --session: as before"
    else report no "without --session: as before" "exit $status: ${out:0:300}" "--session is optional"
    fi
}

"exercise_$EXERCISE"

echo
if ((failed == 0)); then
    echo "${green}All $passed checks pass.${plain} Well done: compare with the reference solution in $DIR/."
    exit 0
fi
echo "${red}$failed of $((passed + failed)) checks fail.${plain} Not yet; the hints above say where to look ($DIR/README.md)."
exit 1
