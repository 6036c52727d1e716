#!/usr/bin/env bash
# article-certs.sh: the Spanish article's nine openssl commands, as written there, into DIR.
#
#   scripts/article-certs.sh DIR        (for example certs/article)
#
# The article makes a CA (ca), a server certificate (service1) and a client certificate (service2)
# with plain `openssl req -new` and `openssl x509 -req`, and no extension file at all. Its `req`
# commands ask for the name interactively; here -subj answers for you, nothing else is added:
#
#   the article   this suite (scripts/gen-certs.sh)   difference
#   ca            ca                                  no basicConstraints, no keyUsage
#   service1      server                              no subjectAltName: the name is only in CN=localhost
#   service2      client                              no extendedKeyUsage (clientAuth)
#
# Each command is printed before it runs. DIR is made if needed; existing files in it are replaced.
# Nothing else is touched: scripts/gen-certs.sh and certs/ stay as they are.
set -euo pipefail

if [[ $# -ne 1 || $1 == -* ]]; then
  echo "usage: scripts/article-certs.sh DIR" >&2
  exit 2
fi
mkdir -p -- "$1"
cd -- "$1"

# run COMMAND...: print it as a line to paste into a shell, then run it quietly (its chatter is
# shown only if it fails).
run() {
  local arg line='$'
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./=-]+$ ]]; then line+=" $arg"; else line+=" '$arg'"; fi
  done
  printf '%s\n' "$line"
  if ! "$@" >.article-output 2>&1; then
    cat .article-output >&2
    echo "article-certs.sh: this command failed: $*" >&2
    exit 1
  fi
}

# The names the article's prompts ask for.
ca_name='/CN=article CA'
service1_name='/CN=localhost'
service2_name='/CN=service2'

run openssl genrsa -out ca.key 2048
run openssl req -new -key ca.key -subj "$ca_name" -out ca.csr
run openssl x509 -req -days 365 -in ca.csr -signkey ca.key -out ca.crt
run openssl genrsa -out service1.key 2048
run openssl req -new -key service1.key -subj "$service1_name" -out service1.csr
run openssl x509 -req -days 365 -in service1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out service1.crt
run openssl genrsa -out service2.key 2048
run openssl req -new -key service2.key -subj "$service2_name" -out service2.csr
run openssl x509 -req -days 365 -in service2.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out service2.crt
rm -f .article-output
chmod 600 ca.key service1.key service2.key
