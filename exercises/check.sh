#!/usr/bin/env bash
# exercises/check.sh N [SOURCE | --solution]: checks your answer to exercise N (see
# exercises/README.md). It builds your file into a temporary directory, starts it on a free port
# with a copy of the test certificates, runs the exercise's scenarios with curl, and prints PASS or
# FAIL for each, with a hint for each FAIL. Exit 0 when every scenario passes, 1 when not, 2 on
# bad arguments.
#
#   N           1, 2 or 3
#   SOURCE      your file; default: the one the exercise's README tells you to create
#               (exercises/01-refuse-in-handshake/server.c, exercises/02-allowed-subjects/server.c,
#               exercises/03-rotate-ca/rotate.sh)
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

[[ $# -ge 1 && $# -le 2 && $1 =~ ^[1-3]$ ]] || usage
EXERCISE=$1
CHAPTER_03=03-custom-ca-validation/server.c
case $EXERCISE in
    1) DIR=exercises/01-refuse-in-handshake TITLE='refuse untrusted clients in the handshake' FILE=server.c ;;
    2) DIR=exercises/02-allowed-subjects TITLE='allow only certain client subjects' FILE=server.c ;;
    3) DIR=exercises/03-rotate-ca TITLE='rotate to a new CA without downtime' FILE=rotate.sh ;;
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
        if ! patch -s -o "$SOURCE" "$CHAPTER_03" "$DIR/solution.diff" >"$LIB_TMP/patch.log" 2>&1; then
            echo "${red}The reference solution $DIR/solution.diff no longer applies to $CHAPTER_03:${plain}"
            cat "$LIB_TMP/patch.log"
            exit 1
        fi
    else
        cp "$DIR/solution/$FILE" "$SOURCE"
    fi
    SOURCE_SHOWN=$DIR/solution/$FILE
    [[ ! -f $DIR/solution.diff ]] || SOURCE_SHOWN="$CHAPTER_03 + $DIR/solution.diff"
    echo "Checking the reference solution ($SOURCE_SHOWN)."
else
    SOURCE_SHOWN=$SOURCE
    if [[ ! -f $SOURCE ]]; then
        echo "${red}There is no $SOURCE yet.${plain} Start from the README: $DIR/README.md"
        if [[ $FILE == server.c ]]; then
            echo "  cp $CHAPTER_03 $SOURCE    # then edit it"
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
if [[ -n ${EXERCISE_CERTS:-} && -f $EXERCISE_CERTS/ca.crt ]]; then
    cp -p "$EXERCISE_CERTS"/* "$CERTS"/
elif [[ -f certs/ca.crt && -f certs/ecdsa-client.crt && -f certs/other-client.crt ]]; then
    cp -p certs/* "$CERTS"/
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
# certificate when FIXTURE is -). WANTED: 200 (Hello World!), 403 (empty body) or refused (no
# HTTP answer: the server ended the TLS handshake).
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
    PROGRAM=$LIB_TMP/server
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

exercise_1() {
    build "$SOURCE"
    start "$PROGRAM"
    expect client 200 "our client (CN=client, issued by our CA): 200 Hello World!" \
        "a trusted client must still get in: return preverify_ok, not 0, from the verify callback"
    expect other-client refused "a client from another CA (other-client): refused in the handshake" \
        "the verify callback decides: it returns 1 (\"carry on\") whatever preverify_ok says; returning preverify_ok ends the handshake with an alert"
    expect expired-client refused "an expired client certificate: refused in the handshake" \
        "preverify_ok is 0 for an expired certificate too; return it from complete_handshake_for_any_certificate()"
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
}

"exercise_$EXERCISE"

echo
if ((failed == 0)); then
    echo "${green}All $passed checks pass.${plain} Well done: compare with the reference solution in $DIR/."
    exit 0
fi
echo "${red}$failed of $((passed + failed)) checks fail.${plain} Not yet; the hints above say where to look ($DIR/README.md)."
exit 1
