#!/usr/bin/env bash
# scripts/demo.sh: makes the certificates, then walks the chapters. The certificates come first:
# this suite's own recipe (CA, server, client, other CA; the Spanish article's nine commands are
# scripts/article-certs.sh) in full, then one line per further fixture,
# with the full output kept in certs/gen-certs.log (scripts/gen-certs.sh --quiet-fixtures). Then,
# for each chapter program that is built, it starts the server on a free port, runs that chapter's
# curl commands (scripts/curl-checks.sh: each command, the HTTP status and body or error it got, and
# whether that is what the chapter expects), shows the server's log, and stops it. `make demo` runs it
# after installing the tools (scripts/deps.sh) and building. Exits 1 when something did not go as
# the chapter says.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# The start/stop helpers are the ones the tests use.
# shellcheck source=tests/lib.sh
. tests/lib.sh
CERTS=$ROOT/certs
LIB_TMP=$(mktemp -d)
trap 'cleanup_test; rm -rf "$LIB_TMP"' EXIT

if [[ -t 1 ]]; then bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' plain=$'\e[0m'
else bold='' green='' red='' plain=''
fi

# chapter | the server it runs against | heading
CHAPTERS='
01 | 01-tls-server/server           | HTTPS, the server proves who it is
02 | 02-mtls-server/server          | a client certificate is required
03 | 03-custom-ca-validation/server | trust only certificates from our own CA
04 | 03-custom-ca-validation/server | our own client: it verifies the server and proves who it is
05 | 05-production-server/server    | chapter 03 ready to run for months: reload, limits, speed
'

# The program a chapter is about (for 04, the client; the others are their server).
chapter_program() {
    case $1 in
        04) echo 04-client/client ;;
        *) echo "$2" ;;
    esac
}

heading="Certificates: this suite's recipe, then the test fixtures"
echo "${bold}$heading${plain}"
echo "${bold}${heading//?/=}${plain}"
echo "Each openssl command, with the reason for it (files that already exist are kept):"
if ! scripts/gen-certs.sh --quiet-fixtures certs; then
    echo "${red}scripts/gen-certs.sh failed; see above.${plain}"
    exit 1
fi

results=() failures=0
while IFS='|' read -r chapter server title; do
    chapter=${chapter// /}
    [[ -n $chapter ]] || continue
    server=${server// /}
    title=$(sed 's/^ *//; s/ *$//' <<<"$title")
    program=$(chapter_program "$chapter" "$server")
    if [[ ! -f ${program%/*}/${program##*/}.c ]]; then
        results+=("Chapter $chapter: not in this checkout yet")
        continue
    fi

    echo
    heading="Chapter $chapter: $title"
    underline=${heading//?/=}
    echo "${bold}$heading${plain}"
    echo "${bold}$underline${plain}"
    if [[ ! -x $program || ! -x $server ]]; then
        echo "${red}$program or $server is not built; run 'make' first.${plain}"
        results+=("Chapter $chapter: ${red}not built${plain}")
        failures=$((failures + 1))
        continue
    fi

    port=$(free_port)
    echo "Each command below: what should happen, the command, what it returned, then ok."
    echo "Starting the server in the background (certificates from certs/):"
    echo "\$ $server --port $port &"
    if ! start_server "$server" --port "$port"; then
        results+=("Chapter $chapter: ${red}the server did not start${plain}")
        failures=$((failures + 1))
        continue
    fi
    outcome="${green}as expected${plain}"
    if ! scripts/curl-checks.sh "$chapter" "$port"; then
        outcome="${red}UNEXPECTED results (see above)${plain}"
        failures=$((failures + 1))
    fi
    echo
    echo "What the server logged:"
    sed 's/^/    /' "$SERVER_LOG"
    status=0
    stop_server || status=$?
    if [[ $status != 0 ]]; then
        echo "${red}The server exited with status $status after SIGTERM (expected 0).${plain}"
        outcome="${red}server did not stop cleanly${plain}"
        failures=$((failures + 1))
    fi
    results+=("Chapter $chapter: $outcome")
done <<<"$CHAPTERS"

echo
echo "${bold}Summary${plain}"
printf '  %s\n' "${results[@]}"
echo
echo "Next: read 01-tls-server/README.md, then each chapter's README in turn; 'make diff-02'"
echo "(and diff-03, diff-04, diff-05) shows what each chapter adds. Then try the exercises"
echo "(exercises/README.md, self-checked with exercises/check.sh N), see the handshake in"
echo "Wireshark and the same policy in nginx (docs/seeing-the-bytes.md, docs/production.md),"
echo "and run the tests: make test"
((failures == 0))
