#!/usr/bin/env bash
# scripts/curl-checks.sh CHAPTER PORT [CERTS_DIR]: the chapter's curl commands, run against its
# server on localhost:PORT. Each command is printed as you would type it (from the repository
# root), then what it returned (for curl: `HTTP 403` and the body, `(empty body)` when there is
# none, or curl's error; for the 04 client: its output and exit status), then `ok` or
# `UNEXPECTED: wanted ..., got ...`. Exits 1 when
# anything was unexpected, 2 on bad arguments.
#
#   CHAPTER    01, 02, 03 or 05 (the server chapter listening on PORT), or 04: the 04 client
#              against a chapter 03 server on PORT
#   CERTS_DIR  where ca.crt, client.crt... are (default: certs/ in the repository)
#
# To capture the outcome, curl also gets `-sS -o FILE -w '%{http_code}' --max-time 10` (silent
# progress, errors still shown); what it prints is what the command shows you.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

# One check per line: chapter | why (printed before the command) | command | expected outcome.
# In the command, PORT is the port and CERTS the certificate directory. Expected outcomes:
#   STATUS [BODY]   curl got this HTTP status (and exactly this body; (empty) for none)
#   no answer       curl got no HTTP answer: the server refused the TLS handshake
#   exit N [BODY]   the command exited with N (and printed exactly BODY)
CHECKS='
01 | Encrypted, but the server is not verified (-k trusts any certificate)         | curl -k https://localhost:PORT/                             | 200 Hello World!
01 | Verified: the server certificate chains to our CA and names localhost         | curl --cacert CERTS/ca.crt https://localhost:PORT/          | 200 Hello World!
01 | Refused by curl: our CA is not in the system trust store                     | curl https://localhost:PORT/                                | exit 60
01 | Verified, and the JSON endpoint of the ASP.NET template                      | curl --cacert CERTS/ca.crt https://localhost:PORT/weatherforecast | 200
02 | No client certificate: the server refuses the handshake, no HTTP answer      | curl -k https://localhost:PORT/                             | no answer
02 | Our client certificate: accepted                                             | curl --cacert CERTS/ca.crt --cert CERTS/client.crt --key CERTS/client.key https://localhost:PORT/ | 200 Hello World!
02 | The server sees who we are                                                   | curl --cacert CERTS/ca.crt --cert CERTS/client.crt --key CERTS/client.key https://localhost:PORT/whoami | 200
02 | A certificate from an unrelated CA: ALSO accepted (the pitfall chapter 03 fixes) | curl --cacert CERTS/ca.crt --cert CERTS/other-client.crt --key CERTS/other-client.key https://localhost:PORT/ | 200 Hello World!
03 | No client certificate: still refused in the handshake                         | curl -k https://localhost:PORT/                             | no answer
03 | Our client certificate: accepted                                             | curl --cacert CERTS/ca.crt --cert CERTS/client.crt --key CERTS/client.key https://localhost:PORT/ | 200 Hello World!
03 | A certificate from an unrelated CA: now 403 Forbidden                         | curl --cacert CERTS/ca.crt --cert CERTS/other-client.crt --key CERTS/other-client.key https://localhost:PORT/ | 403 (empty)
04 | The 04 client with our client certificate, against chapter 03                 | 04-client/client --ca CERTS/ca.crt --cert CERTS/client.crt --key CERTS/client.key https://localhost:PORT/ | exit 0 Hello World!
04 | The 04 client without a certificate: chapter 03 refuses the handshake         | 04-client/client --ca CERTS/ca.crt https://localhost:PORT/  | exit 4
04 | The 04 client with a certificate from an unrelated CA: 403, exit 1            | 04-client/client --ca CERTS/ca.crt --cert CERTS/other-client.crt --key CERTS/other-client.key https://localhost:PORT/ | exit 1
05 | The production server answers as chapter 03: our client certificate, accepted | curl --cacert CERTS/ca.crt --cert CERTS/client.crt --key CERTS/client.key https://localhost:PORT/ | 200 Hello World!
05 | A certificate from an unrelated CA: 403 Forbidden                             | curl --cacert CERTS/ca.crt --cert CERTS/other-client.crt --key CERTS/other-client.key https://localhost:PORT/ | 403 (empty)
'

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
[[ $1 =~ ^0?[1-5]$ ]] || usage
chapter=$(printf '%02d' "$((10#$1))")
port=$2
if [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then usage; fi
certs=$ROOT/certs
[[ $# -lt 3 ]] || certs=$(cd "$3" && pwd)
# As a learner types it from the repository root: certs/... when it is the usual directory.
shown_certs=$certs
[[ $certs != "$ROOT/certs" ]] || shown_certs=certs

cd "$ROOT"
# A proxy in the environment must not come between curl and localhost.
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if [[ -t 1 ]]; then green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' plain=$'\e[0m'
else green='' red='' dim='' plain=''
fi

# run_check COMMAND EXPECTED: runs one check and prints it; returns 1 when unexpected.
run_check() {
    local shown=$1 expected=$2 words status='' code body wanted got
    shown=${shown//PORT/$port}
    read -r -a words <<<"${shown//CERTS/$certs}"
    shown=${shown//CERTS/$shown_certs}
    echo "${dim}\$${plain} $shown"
    code=0
    rm -f "$scratch/body" "$scratch/err"
    if [[ ${words[0]} == curl ]]; then
        status=$(timeout 20 curl -q -sS --max-time 10 -o "$scratch/body" -w '%{http_code}' \
                 "${words[@]:1}" 2>"$scratch/err") || code=$?
    else
        timeout 30 "${words[@]}" >"$scratch/body" 2>"$scratch/err" </dev/null || code=$?
    fi
    body=$(cat "$scratch/body" 2>/dev/null; echo x)
    body=${body%x}
    # What the command returned: for curl the HTTP status (000: no HTTP answer), then the body,
    # `(empty body)` when there is none; for another program its output; then any error it printed,
    # and for another program its exit status.
    if [[ ${words[0]} == curl && $status != 000 ]]; then
        echo "HTTP $status"
        if [[ -z $body ]]; then echo '(empty body)'; else printf '%s\n' "${body%$'\n'}"; fi
    elif [[ -n $body ]]; then
        printf '%s\n' "${body%$'\n'}"
    fi
    [[ ! -s $scratch/err ]] || cat "$scratch/err"
    [[ ${words[0]} == curl ]] || echo "(exit status $code)"

    # shellcheck disable=SC2016  # the single quotes are text in the messages
    case $expected in
        'no answer')
            wanted='no HTTP answer (curl exit 35, 52 or 56)'
            [[ $status == 000 && $code =~ ^(35|52|56)$ ]] && wanted='' ;;
        exit\ *)
            local want_code=${expected#exit } want_body=''
            if [[ $want_code == *' '* ]]; then want_body=${want_code#* }; want_code=${want_code%% *}; fi
            wanted="exit status $want_code${want_body:+ and output '$want_body'}"
            [[ $code == "$want_code" && ( -z $want_body || $body == "$want_body" ) ]] && wanted='' ;;
        *)
            local want_status=${expected%% *} want_body=''
            [[ $expected != *' '* ]] || want_body=${expected#* }
            wanted="HTTP $want_status${want_body:+ with body '$want_body'}"
            [[ $want_body != '(empty)' ]] || want_body=''
            if [[ $code == 0 && $status == "$want_status" ]] &&
               [[ $expected != *' '* || $body == "$want_body" ]]; then
                wanted=''
            fi ;;
    esac
    if [[ -z $wanted ]]; then
        echo "${green}ok${plain}"
        return 0
    fi
    got="exit status $code"
    [[ ${words[0]} != curl ]] || got="HTTP ${status:-000}, curl exit $code"
    echo "${red}UNEXPECTED: wanted $wanted, got $got${plain}"
    return 1
}

checks=0 unexpected=0
while IFS='|' read -r ch why command expected; do
    ch=${ch// /}
    [[ $ch == "$chapter" ]] || continue
    why=$(echo "$why" | sed 's/ *$//; s/^ *//')
    command=$(echo "$command" | sed 's/ *$//; s/^ *//')
    expected=$(echo "$expected" | sed 's/ *$//; s/^ *//')
    echo
    echo "# $why"
    checks=$((checks + 1))
    run_check "$command" "$expected" || unexpected=$((unexpected + 1))
done <<<"$CHECKS"

echo
if ((unexpected == 0)); then
    echo "Chapter $chapter: all $checks checks as expected."
else
    echo "Chapter $chapter: $unexpected of $checks checks UNEXPECTED."
    exit 1
fi
