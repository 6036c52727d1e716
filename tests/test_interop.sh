#!/usr/bin/env bash
# Interop: our programs against the TLS stacks people use, in both directions, over TLS 1.2 and
# TLS 1.3, with RSA and ECDSA certificates.
#   - Each server (chapters 01, 02, 03) against curl, `openssl s_client`, `gnutls-cli` and Python's
#     ssl module, with no client certificate, ours, and one from another CA.
#   - The 04 client against chapters 01, 02, 03, against `openssl s_server -Verify` and against
#     nginx with `ssl_verify_client on` (the production-style peer).
#   - The programs of tests/interop/ (Python requests, Go, Node.js, Java) against chapter 03, each
#     outcome compared with the interop table (docs/other-languages.md); the 04 client against the Go, Node.js and
#     Java servers.
# A peer that is not installed is skipped with a message, never passed; under REQUIRE_PEERS=1
# (set by .ci/run, which installs them all) it is a failure.
# Run alone with `tests/run.sh test_interop` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/interop/helpers.sh
. "$(dirname "$0")/interop/helpers.sh"

CLIENT=$(program_path 04-client/client)
SERVER_01=$(program_path 01-tls-server/server)
SERVER_02=$(program_path 02-mtls-server/server)
SERVER_03=$(program_path 03-custom-ca-validation/server)
REQUEST='GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'

oneTimeSetUp() {
    require_program "$CLIENT" && require_program "$SERVER_01" && require_program "$SERVER_02" &&
        require_program "$SERVER_03" && make_test_certs && use_tls12_openssl_conf
}
oneTimeTearDown() { stop_shared_servers; }

# need_peer COMMAND PACKAGE: require_peer (tests/lib.sh), saying what to install.
need_peer() {
    require_peer "$1" "this interop test (Debian/Ubuntu package: $2)"
}

# fixtures KEY [IDENTITY]: the certificates of a case. For KEY rsa or ecdsa, sets SERVER_CERT (the
# server's fixture: server or ecdsa-server); for IDENTITY none, ours or other, CLIENT_CERT (the
# client's: empty, client or ecdsa-client, other-client).
fixtures() {
    SERVER_CERT=server CLIENT_CERT=''
    [[ $1 != ecdsa ]] || SERVER_CERT=ecdsa-server
    case ${2:-none} in
        ours) CLIENT_CERT=client; [[ $1 != ecdsa ]] || CLIENT_CERT=ecdsa-client ;;
        other) CLIENT_CERT=other-client ;;
    esac
}

# use_chapter CHAPTER KEY: the chapter's server (01, 02, 03) serving the rsa or ecdsa certificate,
# started once for the whole suite.
use_chapter() {
    local program=SERVER_$1
    fixtures "$2"
    shared_server "chapter-$1-$2" "${!program}" --cert "$CERTS/$SERVER_CERT.crt" \
        --key "$CERTS/$SERVER_CERT.key"
}

# The cases every check runs: "KEY VERSION IDENTITY", RSA with every identity, ECDSA with ours.
CASES='
rsa   1.2 none
rsa   1.2 ours
rsa   1.2 other
rsa   1.3 none
rsa   1.3 ours
rsa   1.3 other
ecdsa 1.2 ours
ecdsa 1.3 ours'

# wanted_outcomes ARRAY TABLE: fills the associative ARRAY from TABLE's lines "SERVER IDENTITY
# OUTCOME...": ARRAY[SERVER IDENTITY]=OUTCOME.
wanted_outcomes() {
    local -n outcomes=$1
    local server identity outcome
    while read -r server identity outcome; do
        # shellcheck disable=SC2034  # outcomes is a reference: this fills the caller's array
        [[ -z $server ]] || outcomes["$server $identity"]=$outcome
    done <<<"$2"
}

# The second article's scenarios, per chapter: no certificate, ours, another CA's.
# `refused` means no HTTP answer at all: the server ended the TLS connection.
SERVER_EXPECTED='
01 none  200
01 ours  200
01 other 200
02 none  refused
02 ours  200
02 other 200
03 none  refused
03 ours  200
03 other 403'
declare -A SERVER_WANTS
wanted_outcomes SERVER_WANTS "$SERVER_EXPECTED"

# --- Peers as clients ----------------------------------------------------------------------------

# gnutls_request DATA VERSION: sends DATA (printf %b escapes expanded) with gnutls-cli to
# localhost:SERVER_PORT, trusting $CERTS/ca.crt (gnutls checks the name too), allowing only TLS
# VERSION (1.2 or 1.3), presenting $CERTS/$TLS_CLIENT.crt when TLS_CLIENT is set, and reads until
# the server closes (at most 15 s). Sets GNUTLS_OUTPUT (stdout and stderr), GNUTLS_EXIT and
# GNUTLS_STATUS (the HTTP status, or empty).
gnutls_request() {
    local out cert_args=()
    [[ -z ${TLS_CLIENT:-} ]] ||
        cert_args=(--x509certfile "$CERTS/$TLS_CLIENT.crt" --x509keyfile "$CERTS/$TLS_CLIENT.key")
    _lib_scratch gnutls; out=$LIB_SCRATCH
    GNUTLS_EXIT=0
    printf '%b' "$1" | timeout -k 2 15 gnutls-cli --x509cafile "$CERTS/ca.crt" "${cert_args[@]}" \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS$2" -p "$SERVER_PORT" localhost >"$out" 2>&1 ||
        GNUTLS_EXIT=$?
    _lib_slurp GNUTLS_OUTPUT "$out"
    GNUTLS_STATUS=$(sed -n 's|^HTTP/1\.[01] \([0-9][0-9][0-9]\).*|\1|p' "$out" | head -n 1)
}

# peer_get PEER VERSION FIXTURE: GET / from the current server with PEER (curl, s_client, gnutls,
# python) over TLS VERSION, presenting FIXTURE (none when empty). Sets OUTCOME (the HTTP status,
# with `+body` when the body `Hello World!` arrived, or `refused` without an answer) and DETAIL
# (what the peer printed, for messages).
peer_get() {
    local peer=$1 version=$2 status='' body=no request=${REQUEST/GET \//GET ${PEER_PATH:-/}}
    local TLS_CLIENT=$3
    case $peer in
        curl)
            curl_get "${PEER_PATH:-/}" --tlsv1.2 --tls-max "$version"
            [[ $CURL_STATUS == 000 ]] || status=$CURL_STATUS
            [[ $CURL_BODY != 'Hello World!' ]] || body=yes
            DETAIL="curl exit $CURL_EXIT, status $CURL_STATUS: $CURL_ERROR" ;;
        s_client)
            s_client_request "$request" "-tls${version/./_}" -verify_hostname localhost
            status=$SCLIENT_STATUS
            [[ $SCLIENT_OUTPUT != *'Hello World!'* ]] || body=yes
            DETAIL="openssl s_client exit $SCLIENT_EXIT: $(tail -n 5 <<<"$SCLIENT_OUTPUT")" ;;
        gnutls)
            gnutls_request "$request" "$version"
            status=$GNUTLS_STATUS
            [[ $GNUTLS_OUTPUT != *'Hello World!'* ]] || body=yes
            DETAIL="gnutls-cli exit $GNUTLS_EXIT: $(grep -E '^\*\*\*|^- Description|^HTTP' <<<"$GNUTLS_OUTPUT")" ;;
        python)
            TLS_VERSION=$version raw_request "$request"
            status=$RAW_STATUS
            [[ $RAW_BODY != 'Hello World!' ]] || body=yes
            DETAIL="python exit $RAW_EXIT: $RAW_ERROR $RAW_RESPONSE" ;;
    esac
    OUTCOME=${status:-refused}
    [[ $body == no ]] || OUTCOME+=+body
}

# check_peer PEER CHAPTER: PEER against the chapter's server, every case of CASES: the outcome of
# SERVER_EXPECTED (a 200 with the body `Hello World!`), and the server's log line for it with the
# TLS version (and, under TLS 1.2, the key type in the cipher suite). Fails with every mismatch.
# Each case asks for a path of its own, /?case=PEER-N (the query string plays no part in routing),
# so that the log line checked is this connection's and not a late one of the case before. (A
# refusal has no request line: each case waits for its own line before the next one starts.)
check_peer() {
    local peer=$1 chapter=$2 key version identity wanted logged tls problems='' current='' n=0
    local PEER_PATH
    while read -r key version identity; do
        [[ -n $key ]] || continue
        n=$((n + 1)) PEER_PATH="/?case=$peer-$n"
        if [[ $key != "$current" ]]; then use_chapter "$chapter" "$key" || return; current=$key; fi
        fixtures "$key" "$identity"
        wanted=${SERVER_WANTS[$chapter $identity]}
        [[ $wanted != 200 ]] || wanted=200+body
        # What the server logs about the TLS: the version, and the cipher suite, which under
        # TLS 1.2 names the key type of the server certificate.
        case $key/$version in
            */1.3) tls='TLSv1\.3 TLS_[A-Z0-9_]+' ;;
            ecdsa/1.2) tls='TLSv1\.2 ECDHE-ECDSA-[A-Z0-9-]+' ;;
            *) tls='TLSv1\.2 ECDHE-RSA-[A-Z0-9-]+' ;;
        esac
        mark_log
        peer_get "$peer" "$version" "$CLIENT_CERT"
        if [[ $OUTCOME != "$wanted" ]]; then
            problems+="$key TLS $version, client certificate $identity: wanted $wanted, got $OUTCOME ($DETAIL)"$'\n'
            continue
        fi
        if [[ $wanted == refused ]]; then
            logged='handshake failed: the client sent no certificate, and one is required$'
        elif [[ $wanted == 403 ]]; then
            # Chapter 03 answers a stranger before reading its request: one line, and no request.
            logged='rejected .*; answered 403$'
        else
            logged="$tls \"GET $(re_escape "$PEER_PATH") HTTP/1\\.1\" ${wanted%+body}\$"
        fi
        wait_for_log "^127\\.0\\.0\\.1:[0-9]+ $logged" ||
            problems+="$key TLS $version, client certificate $identity: no server log line /$logged/ in: $(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG")"$'\n'
    done <<<"$CASES"
    assertEquals "$peer against chapter $chapter" '' "$problems"
}

test_chapter_01_with_curl() { check_peer curl 01; }
test_chapter_01_with_openssl_s_client() { check_peer s_client 01; }
test_chapter_01_with_gnutls_cli() { need_peer gnutls-cli gnutls-bin || return 0; check_peer gnutls 01; }
test_chapter_01_with_python_ssl() { check_peer python 01; }

test_chapter_02_with_curl() { check_peer curl 02; }
test_chapter_02_with_openssl_s_client() { check_peer s_client 02; }
test_chapter_02_with_gnutls_cli() { need_peer gnutls-cli gnutls-bin || return 0; check_peer gnutls 02; }
test_chapter_02_with_python_ssl() { check_peer python 02; }

test_chapter_03_with_curl() { check_peer curl 03; }
test_chapter_03_with_openssl_s_client() { check_peer s_client 03; }
test_chapter_03_with_gnutls_cli() { need_peer gnutls-cli gnutls-bin || return 0; check_peer gnutls 03; }
test_chapter_03_with_python_ssl() { check_peer python 03; }

# --- The 04 client against servers ---------------------------------------------------------------

# What the 04 client makes of each server: "SERVER IDENTITY EXIT TEXT", TEXT being the status line
# of its summary (exit 0 or 1) or its error sentence (OTHER CERT stands for the other client's
# certificate file; " || " separates outcomes that are all right). openssl s_server
# -verify_return_error refuses another CA's certificate in the handshake; nginx completes the
# handshake and answers 400 to a missing or untrusted certificate. Node.js checks the certificate
# after the handshake and drops the connection without an alert: under TLS 1.3 the 04 client has
# already finished the handshake and sees the connection end (or reset) while it reads.
HINT='TLS handshake failed: the server requires a client certificate; pass --cert and --key'
CLIENT_EXPECTED="
01       none  0 HTTP/1.1 200 OK
01       ours  0 HTTP/1.1 200 OK
01       other 0 HTTP/1.1 200 OK
02       none  4 $HINT
02       ours  0 HTTP/1.1 200 OK
02       other 0 HTTP/1.1 200 OK
03       none  4 $HINT
03       ours  0 HTTP/1.1 200 OK
03       other 1 HTTP/1.1 403 Forbidden
s_server none  4 $HINT
s_server ours  0 HTTP/1.0 200 ok
s_server other 4 TLS handshake failed: the server refused our client certificate 'OTHER CERT' (alert: unknown CA)
nginx    none  1 HTTP/1.1 400 Bad Request
nginx    ours  0 HTTP/1.1 200 OK
nginx    other 1 HTTP/1.1 400 Bad Request
go       none  4 $HINT
go       ours  0 HTTP/1.1 200 OK
go       other 4 TLS handshake failed: the server refused our client certificate 'OTHER CERT' (alert: bad certificate)
node     none  4 $HINT
node     ours  0 HTTP/1.1 200 OK
node     other 3 reading the response failed: the server closed the connection || 3 reading the response failed: the connection broke (Connection reset by peer) || 4 TLS handshake failed: the server closed the connection
java     none  4 TLS handshake failed: the server requires a client certificate and closed the connection; pass --cert and --key
java     ours  0 HTTP/1.1 200 OK
java     other 3 reading the response failed: the server closed the connection || 3 reading the response failed: the connection broke (Connection reset by peer) || 4 TLS handshake failed: the server closed the connection"
declare -A CLIENT_WANTS
wanted_outcomes CLIENT_WANTS "$CLIENT_EXPECTED"

# client_get VERSION FIXTURE: runs the 04 client against https://localhost:SERVER_PORT/ capped at
# TLS VERSION, presenting FIXTURE (none when empty). Sets OUTCOME to "EXIT TEXT" as in
# CLIENT_EXPECTED and DETAIL.
client_get() {
    local args=(--ca "$CERTS/ca.crt" "https://localhost:$SERVER_PORT/") text
    [[ -z $2 ]] || args+=(--cert "$CERTS/$2.crt" --key "$CERTS/$2.key")
    if [[ $1 == 1.2 ]]; then
        OPENSSL_CONF=$TLS12_OPENSSL_CONF run_program "$CLIENT" "${args[@]}"
    else
        run_program "$CLIENT" "${args[@]}"
    fi
    text=${RUN_STDERR%$'\n'}
    text=${text#client: }
    if [[ $RUN_STATUS == [01] ]]; then
        # "HTTP/1.1 200 OK; TLSv1.3 TLS_AES_256_GCM_SHA384; server CN=localhost verified by ..."
        [[ $text == *"; TLSv$1 "* ]] || text="(not TLS $1) $text"
        text=${text%%;*}
    fi
    OUTCOME="$RUN_STATUS $text"
    DETAIL="stdout '$(head -c 200 <<<"$RUN_STDOUT")', stderr '${RUN_STDERR%$'\n'}'"
}

# check_client SERVER START_FUNCTION: the 04 client against a server that START_FUNCTION KEY starts
# (setting SERVER_PORT), every case of CASES, wanting CLIENT_EXPECTED's outcome for SERVER (and
# `Hello World!` on stdout where our servers and nginx answer 200). Fails with every mismatch.
check_client() {
    local server=$1 start=$2 key version identity wanted problems='' current=''
    while read -r key version identity; do
        [[ -n $key ]] || continue
        if [[ $key != "$current" ]]; then "$start" "$key" || return; current=$key; fi
        fixtures "$key" "$identity"
        wanted=${CLIENT_WANTS[$server $identity]}
        wanted=${wanted//OTHER CERT/$CERTS/other-client.crt}
        client_get "$version" "$CLIENT_CERT"
        if [[ " || $wanted || " != *" || $OUTCOME || "* ]]; then
            problems+="$key TLS $version, client certificate $identity: wanted '$wanted', got '$OUTCOME' ($DETAIL)"$'\n'
        elif [[ $wanted == '0 HTTP/1.1 200 OK' && $RUN_STDOUT != 'Hello World!' ]]; then
            problems+="$key TLS $version, client certificate $identity: wanted the body 'Hello World!' ($DETAIL)"$'\n'
        fi
    done <<<"$CASES"
    assertEquals "the 04 client against $server" '' "$problems"
}

start_chapter_01() { use_chapter 01 "$1"; }
start_chapter_02() { use_chapter 02 "$1"; }
start_chapter_03() { use_chapter 03 "$1"; }

# start_s_server KEY: openssl s_server requiring a client certificate from our CA (-Verify 1
# -verify_return_error -CAfile), answering every request with its status page (-www).
start_s_server() {
    fixtures "$1"
    start_peer @PORT@ openssl s_server -accept "127.0.0.1:@PORT@" \
        -cert "$CERTS/$SERVER_CERT.crt" -key "$CERTS/$SERVER_CERT.key" \
        -Verify 1 -verify_return_error -CAfile "$CERTS/ca.crt" -www || return
    SERVER_PORT=$PEER_PORT
}

# start_nginx KEY: nginx, run as the current user from a scratch prefix, with the production
# settings for mutual TLS: our server certificate, `ssl_verify_client on` and our CA in
# `ssl_client_certificate`, answering `Hello World!`.
start_nginx() {
    local dir module temp_paths=''
    fixtures "$1"
    _lib_scratch nginx; dir=$LIB_SCRATCH
    mkdir -p "$dir/tmp"
    # Every temporary directory a compiled-in module wants, inside the prefix (the defaults under
    # /var/lib/nginx are not writable for a user).
    for module in client_body proxy fastcgi uwsgi scgi; do
        if ! nginx -V 2>&1 | grep -q -e "--without-http_${module}_module"; then
            temp_paths+="    ${module}_temp_path $dir/tmp/$module;"$'\n'
        fi
    done
    cat >"$dir/nginx.conf.in" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 64; }
http {
    access_log $dir/access.log;
$temp_paths
    server {
        listen 127.0.0.1:@PORT@ ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $CERTS/$SERVER_CERT.crt;
        ssl_certificate_key $CERTS/$SERVER_CERT.key;
        ssl_verify_client on;
        ssl_client_certificate $CERTS/ca.crt;
        location / {
            default_type text/plain;
            return 200 "Hello World!";
        }
    }
}
EOF
    start_peer --config "$dir/nginx.conf.in" "$dir/nginx.conf" @PORT@ \
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" || return
    SERVER_PORT=$PEER_PORT
}

test_04_client_against_chapter_01() { check_client 01 start_chapter_01; }
test_04_client_against_chapter_02() { check_client 02 start_chapter_02; }
test_04_client_against_chapter_03() { check_client 03 start_chapter_03; }
test_04_client_against_openssl_s_server() { check_client s_server start_s_server; }
test_04_client_against_nginx() { need_peer nginx nginx-light || return 0; check_client nginx start_nginx; }

# --- Other TLS stacks: tests/interop/ ------------------------------------------------------------
# Small programs in the languages services are written in, each against chapter 03 with our client
# certificate, with none, with another CA's, and trusting another CA instead of ours; and, for the
# stacks with a server, the 04 client against that server. What each client gets is the cell of
# the interop table (docs/other-languages.md) (tests/interop/helpers.sh reads it), so the table is checked here.

INTEROP=$ROOT/tests/interop
P12_PASSWORD=mtls-by-example   # scripts/gen-certs.sh's password for the .p12 files

# The README table's rows, and the client each stands for here (the rows of the browsers are
# checked by tests/test_browser.sh).
TABLE_ROWS='
curl                           curl
openssl s_client               s_client
gnutls-cli                     gnutls
Python ssl                     python
Python requests                requests
Go net/http                    go
Node.js https (key, cert, ca)  node
Node.js https (pfx)            node-pfx
Java HttpClient (PKCS12)       java
Chromium (headless)            browser
Firefox (headless)             browser'

# need_go, need_node, need_java, need_requests: true when the toolchain is there; otherwise the
# test is skipped (failed under REQUIRE_PEERS=1) and the caller returns.
need_go() { need_peer go golang-go; }
need_node() { need_peer node nodejs; }
need_java() { need_peer javac default-jdk-headless; }
# The python3 that has requests: the first python3 on PATH, else Debian's.
need_requests() {
    local python
    for python in "$(command -v python3)" /usr/bin/python3; do
        if [[ -x $python ]] && "$python" -c 'import requests' 2>/dev/null; then
            REQUESTS_PYTHON=$python
            return 0
        fi
    done
    missing_peer "Python's requests" "Debian/Ubuntu package: python3-requests"
    return 1
}

# build_go: compiles tests/interop/client.go and server.go into the scratch directory, once per
# run (GO_CLIENT, GO_SERVER). Go's build cache goes to build/ (HOME may be unset in CI), and
# GOPROXY=off makes sure nothing is downloaded: the programs use the standard library only.
build_go() {
    [[ -z ${GO_SERVER:-} ]] || return 0
    local log
    _lib_scratch go-build.log; log=$LIB_SCRATCH
    mkdir -p "$ROOT/build/go"
    if ! (cd "$INTEROP" && export GOCACHE=$ROOT/build/go/cache GOPATH=$ROOT/build/go/path \
              GOPROXY=off GO111MODULE=off &&
          timeout 300 go build -o "$LIB_TMP/go-client" client.go &&
          timeout 300 go build -o "$LIB_TMP/go-server" server.go) >"$log" 2>&1; then
        fail "go build tests/interop/*.go failed: $(cat "$log")"
        return 1
    fi
    GO_CLIENT=$LIB_TMP/go-client GO_SERVER=$LIB_TMP/go-server
}

# build_java: compiles tests/interop/Client.java and Server.java into the scratch directory, once
# per run (`java tests/interop/Client.java` works too, but compiles again at every start).
build_java() {
    [[ -z ${JAVA_CLASSES:-} ]] || return 0
    local log
    _lib_scratch javac.log; log=$LIB_SCRATCH
    if ! timeout 300 javac -d "$LIB_TMP/java" "$INTEROP/Client.java" "$INTEROP/Server.java" >"$log" 2>&1; then
        fail "javac tests/interop/Client.java Server.java failed: $(cat "$log")"
        return 1
    fi
    JAVA_CLASSES=$LIB_TMP/java
}

# stack_get CLIENT IDENTITY: GET / from the current server (https://localhost:SERVER_PORT/) with
# CLIENT (a name of TABLE_ROWS' second column), trusting $CERTS/ca.crt, presenting IDENTITY: ours
# (client), none, or other (other-client). Sets OUTCOME to 200 (with the body `Hello World!`),
# 403, refused (no HTTP answer) or "STATUS, body BODY" for anything else, and DETAIL to what the
# client printed.
stack_get() {
    local client=$1 url=https://localhost:$SERVER_PORT/ name='' pem=() p12=()
    case $2 in ours) name=client ;; other) name=other-client ;; esac
    [[ -z $name ]] || pem=("$CERTS/$name.crt" "$CERTS/$name.key") p12=("$CERTS/$name.p12" "$P12_PASSWORD")
    case $client in
        curl | s_client | gnutls | python)
            fixtures rsa "$2"
            peer_get "$client" 1.3 "$CLIENT_CERT"
            [[ $OUTCOME != 200+body ]] || OUTCOME=200
            return ;;
        requests) run_program "$REQUESTS_PYTHON" "$INTEROP/client.py" "$url" "$CERTS/ca.crt" "${pem[@]}" ;;
        go) run_program "$GO_CLIENT" "$url" "$CERTS/ca.crt" "${pem[@]}" ;;
        node) run_program "$(command -v node)" "$INTEROP/client.js" "$url" "$CERTS/ca.crt" "${pem[@]}" ;;
        node-pfx)
            [[ -z $name ]] || p12=(--pfx "${p12[@]}")
            run_program "$(command -v node)" "$INTEROP/client.js" "$url" "$CERTS/ca.crt" "${p12[@]}" ;;
        java) RUN_TIMEOUT=30 run_program "$(command -v java)" -cp "$JAVA_CLASSES" Client "$url" "$CERTS/ca.crt" "${p12[@]}" ;;
    esac
    DETAIL="exit $RUN_STATUS: ${RUN_STDERR%$'\n'}"
    if [[ $RUN_STATUS != 0 ]]; then
        OUTCOME=refused
    elif [[ $RUN_STDOUT == $'200\nHello World!' || $RUN_STDOUT == $'403\n' ]]; then
        OUTCOME=${RUN_STDOUT%%$'\n'*}
    else
        OUTCOME="${RUN_STDOUT%%$'\n'*}, body '${RUN_STDOUT#*$'\n'}'"
    fi
}

# check_row ROW: the client of TABLE_ROWS' ROW against chapter 03, in the four columns of the
# README table: our certificate, none, other-client's, and our certificate while trusting
# other-ca.crt instead of ca.crt (the client must refuse our server). Each outcome must be the
# README's cell, and chapter 03's log must say what it saw of the client certificate.
check_row() {
    local row=$1 client column identity logged problems='' saved_certs=$CERTS wrong_ca
    client=$(awk -v row="$row" '{ name = $0; sub(/ +[^ ]+$/, "", name) } name == row { print $NF }' <<<"$TABLE_ROWS")
    use_chapter 03 rsa || return
    # A copy of the certificates in which ca.crt is other-ca.crt: the client trusts the wrong CA.
    wrong_ca=$LIB_TMP/certs-trusting-other-ca
    if [[ ! -d $wrong_ca ]]; then
        mkdir -p "$wrong_ca" && cp -p "$CERTS"/* "$wrong_ca"/ && cp "$CERTS/other-ca.crt" "$wrong_ca/ca.crt"
    fi
    for column in 1 2 3 4; do
        identity=$(cut -d' ' -f"$column" <<<'ours none other ours')
        [[ $column != 4 ]] || CERTS=$wrong_ca
        mark_log
        stack_get "$client" "$identity"
        CERTS=$saved_certs
        problems+=$(outcome_against_readme "$row" "$column" "$OUTCOME" "$DETAIL")
        case $column/$OUTCOME in
            */200) logged='trusted CN=client issued by CN=mtls-by-example CA' ;;
            */403) logged='rejected CN=other-client issued by CN=Other CA: .+' ;;
            [23]/refused) logged='handshake failed: the client sent no certificate, and one is required' ;;
            *) logged='' ;;   # the client gave up on our server: what the server logs depends on when
        esac
        [[ -z $logged ]] || wait_for_log "^127\\.0\\.0\\.1:[0-9]+ $logged" ||
            problems+="$row, column $column: chapter 03 did not log '$logged': $(tail -c "+$((LOG_MARK + 1))" "$SERVER_LOG")"$'\n'
    done
    assertEquals "$row against chapter 03 (the interop table (docs/other-languages.md))" '' "$problems"
}

test_readme_interop_table_has_one_row_per_tested_client() {
    local wanted
    wanted=$(awk '{ name = $0; sub(/ +[^ ]+$/, "", name); if (name != "") print name }' <<<"$TABLE_ROWS")
    assertEquals "the rows of the interop table (docs/other-languages.md)" "$wanted" "$(readme_clients)"
}

test_readme_row_curl() { check_row curl; }
test_readme_row_openssl_s_client() { check_row 'openssl s_client'; }
test_readme_row_gnutls_cli() { need_peer gnutls-cli gnutls-bin || return 0; check_row gnutls-cli; }
test_readme_row_python_ssl() { check_row 'Python ssl'; }
test_readme_row_python_requests() { need_requests || return 0; check_row 'Python requests'; }
test_readme_row_go() { need_go || return 0; build_go || return; check_row 'Go net/http'; }
test_readme_row_node_pem() { need_node || return 0; check_row 'Node.js https (key, cert, ca)'; }
test_readme_row_node_pfx() { need_node || return 0; check_row 'Node.js https (pfx)'; }
test_readme_row_java() { need_java || return 0; build_java || return; check_row 'Java HttpClient (PKCS12)'; }

# client-legacy.p12 (-legacy: RC2 and 3DES, a SHA-1 MAC) is the file for older stores. Java reads
# it; Node's OpenSSL 3 needs its legacy provider for RC2, which it does not load by default.
test_java_reads_the_legacy_p12() {
    need_java || return 0
    build_java || return
    use_chapter 03 rsa || return
    RUN_TIMEOUT=30 run_program "$(command -v java)" -cp "$JAVA_CLASSES" Client \
        "https://localhost:$SERVER_PORT/" "$CERTS/ca.crt" "$CERTS/client-legacy.p12" "$P12_PASSWORD"
    assert_run 0 && assertEquals "java with client-legacy.p12" $'200\nHello World!' "$RUN_STDOUT"
}

test_node_reads_the_legacy_p12_only_with_the_legacy_provider() {
    need_node || return 0
    use_chapter 03 rsa || return
    local args=("$INTEROP/client.js" "https://localhost:$SERVER_PORT/" "$CERTS/ca.crt"
                --pfx "$CERTS/client-legacy.p12" "$P12_PASSWORD")
    run_program "$(command -v node)" "${args[@]}"
    assert_run 1 'ERR_CRYPTO_UNSUPPORTED_OPERATION: Unsupported PKCS12 PFX data' || return
    run_program "$(command -v node)" --openssl-legacy-provider "${args[@]}"
    assert_run 0 && assertEquals "node --openssl-legacy-provider" $'200\nHello World!' "$RUN_STDOUT"
}

test_a_wrong_p12_password_is_refused_before_connecting() {
    need_java || return 0
    build_java || return
    RUN_TIMEOUT=30 run_program "$(command -v java)" -cp "$JAVA_CLASSES" Client \
        "https://localhost:1/" "$CERTS/ca.crt" "$CERTS/client.p12" wrong-password
    assert_run 1 'keystore password was incorrect'
}

# The 04 client against the Go, Node.js and Java servers (CLIENT_EXPECTED holds their rows).
start_go_server() {
    fixtures "$1"
    SERVER_PORT=$(free_port)
    start_peer "$SERVER_PORT" "$GO_SERVER" "$SERVER_PORT" "$CERTS/$SERVER_CERT.crt" \
        "$CERTS/$SERVER_CERT.key" "$CERTS/ca.crt"
}
start_node_server() {
    fixtures "$1"
    SERVER_PORT=$(free_port)
    start_peer "$SERVER_PORT" node "$INTEROP/server.js" "$SERVER_PORT" "$CERTS/$SERVER_CERT.crt" \
        "$CERTS/$SERVER_CERT.key" "$CERTS/ca.crt"
}
start_java_server() {
    fixtures "$1"
    SERVER_PORT=$(free_port)
    start_peer "$SERVER_PORT" java -cp "$JAVA_CLASSES" Server "$SERVER_PORT" "$CERTS/$SERVER_CERT.crt" \
        "$CERTS/$SERVER_CERT.key" "$CERTS/ca.crt"
}
test_04_client_against_go_server() { need_go || return 0; build_go || return; check_client go start_go_server; }
test_04_client_against_node_server() { need_node || return 0; check_client node start_node_server; }
test_04_client_against_java_server() { need_java || return 0; build_java || return; check_client java start_java_server; }

# shellcheck source=/dev/null
. "$SHUNIT2"
