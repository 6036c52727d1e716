#!/usr/bin/env bash
# EXERCISE 3, REFERENCE SOLUTION (exercises/03-rotate-ca/start.sh with both TODOs done).
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

# The trust store for the rotation: both CAs, one PEM certificate after the other. Chapter 03 loads
# every certificate in the --ca file (SSL_CTX_load_verify_file), and names both in its
# CertificateRequest (SSL_load_client_CA_file), so old and new clients both get in. Once every
# client has moved, restart with --ca new-ca.crt alone to retire the old CA.
cat ca.crt new-ca.crt >trust-both.crt

# The server's certificate, re-issued by the new CA for the same names. Clients accept it only
# once they trust the new CA too (curl --cacert trust-both.crt): hand them trust-both.crt first,
# then switch the server's certificate, and retire the old CA last.
openssl genrsa -out new-server.key 2048
openssl req -new -key new-server.key -subj "/CN=localhost" -out new-server.csr
printf '%s\n' 'basicConstraints = CA:FALSE' 'keyUsage = critical, digitalSignature, keyEncipherment' \
    'extendedKeyUsage = serverAuth' 'subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1' \
    'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid, issuer' >new-server.ext
openssl x509 -req -in new-server.csr -CA new-ca.crt -CAkey new-ca.key -days 825 -sha256 \
    -extfile new-server.ext -out new-server.crt
