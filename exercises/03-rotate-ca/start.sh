#!/usr/bin/env bash
# Exercise 3, the starting point: copy me to exercises/03-rotate-ca/rotate.sh, then do its two TODOs.
# Usage: bash exercises/03-rotate-ca/rotate.sh [CERTS_DIR]   (default certs/)
# Makes a new CA (new-ca), a client certificate issued by it (new-client), trust-both.crt, the
# file chapter 03 is started with (--ca) while clients move from the old CA to the new one, and the
# server's own certificate re-issued by the new CA (new-server.crt, new-server.key).
set -euo pipefail
cd "${1:-certs}"

# A new CA: a new key and a new name (two CAs with the same name confuse whoever looks them up).
# Like ca.crt, it signs for ten years, past 2030, so its key is RSA-3072, not 2048 (certs/README.md
# says why); the certificates it signs (825 days) end long before it does.
openssl genrsa -out new-ca.key 3072
openssl req -new -key new-ca.key -subj "/CN=mtls-by-example CA 2" -out new-ca.csr
printf '%s\n' 'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign' \
    'subjectKeyIdentifier = hash' >new-ca.ext
openssl x509 -req -in new-ca.csr -signkey new-ca.key -days 3650 -sha256 -extfile new-ca.ext -out new-ca.crt

# The same client, re-issued by the new CA (same name, new key).
openssl genrsa -out new-client.key 2048
openssl req -new -key new-client.key -subj "/CN=client" -out new-client.csr
printf '%s\n' 'basicConstraints = CA:FALSE' 'keyUsage = critical, digitalSignature, keyEncipherment' \
    'extendedKeyUsage = clientAuth' 'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid, issuer' \
    >new-client.ext
openssl x509 -req -in new-client.csr -CA new-ca.crt -CAkey new-ca.key -days 825 -sha256 \
    -extfile new-client.ext -out new-client.crt

# TODO 1: the trust store for the rotation. As written, the server would trust only the new CA from
# the moment it restarts, and every client still holding a certificate from ca.crt gets 403.
cp new-ca.crt trust-both.crt

# TODO 2: the server's own certificate, re-issued by the new CA: new-server.key and new-server.crt,
# for the same names as server.crt (DNS:localhost, IP:127.0.0.1, IP:::1) and for a TLS server.
# As written, the server keeps its certificate from the old CA.
