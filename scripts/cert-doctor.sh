#!/usr/bin/env bash
# cert-doctor.sh: would chapter 03 (as a client certificate) or the chapter 04 client (as a server
# certificate) accept this certificate? If not, why, and which openssl commands fix it?
#
#   scripts/cert-doctor.sh CERT [--ca CA] [--key KEY] [--for client|server] [--host NAME] [--crl CRL]
#   scripts/cert-doctor.sh FILE.p12 --password PASSWORD [...]
#
# It applies the rules of those programs with the openssl CLI only: a chain from CERT (and the
# certificates after the first one in CERT's file, sent along by the peer) to CA; the validity dates;
# keys and signatures strong enough for OpenSSL's security level 2, which both programs keep (no
# RSA-1024, no SHA-1); the extendedKeyUsage for the role (clientAuth for 03, serverAuth for 04);
# every issuer being a CA (CA:TRUE); for a server, the host name or IP address in subjectAltName
# (never the subject CN, which the 04 client does not read, and a wildcard only as the whole
# leftmost label, *.example.com, as the 04 client wants); with --key, that the key belongs to the
# certificate; with --crl, that the certificate's issuer published a CRL that is current and does
# not list the certificate.
# A PKCS#12 file (.p12 or .pfx, as browsers and other stacks import) is opened with --password, or
# with the password in the environment variable CERT_DOCTOR_PASSWORD, which keeps it off every
# command line: the certificate and the CA certificates in it are checked as if sent together, and
# so is its key.
#
# Each check prints `✓ what is fine` or `✗ what is wrong`, followed by `  fix: the commands to run`
# (each word quoted for bash, so that a subject or a file name is pasted as text, never run).
# The last line is `verdict: accepted` (exit 0) or `verdict: refused (N problems)` (exit 1).
# Usage errors and unreadable files exit 2. See certs/README.md for what each fixture should get.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/cert-doctor.sh CERT [--ca CA] [--key KEY] [--for client|server] [--host NAME] [--crl CRL]
       scripts/cert-doctor.sh FILE.p12 --password PASSWORD [--ca CA] [--for client|server] ...

Tell whether chapter 03 (--for client) or the chapter 04 client (--for server) would accept
the certificate in CERT (a PEM file: the certificate, then any intermediates sent with it),
and if not, why and how to fix it.

  --ca CA       the CA certificate(s) trusted (default certs/ca.crt, as 03 and 04)
  --key KEY     also check that KEY is the private key of CERT
  --for ROLE    client (default): a client certificate for chapter 03;
                server: a server certificate for the 04 client
  --host NAME   the host name or IP address the 04 client connects to (--for server only;
                default localhost)
  --crl CRL     also check revocation against the CRL(s) in this PEM file, as 03 --crl does
  --password PW the password of a PKCS#12 CERT (.p12 or .pfx: key, certificate and CA
                certificates in one file; scripts/gen-certs.sh's are mtls-by-example);
                openssl gets it through its environment, never on its command line;
                without --password, CERT_DOCTOR_PASSWORD in the environment is used,
                so that the password is on no command line at all
  --help        show this help

Exit status: 0 accepted, 1 refused, 2 usage error or unreadable file.
EOF
}

die_usage() { echo "cert-doctor.sh: $1" >&2; usage >&2; exit 2; }
die_file() { echo "cert-doctor.sh: $1" >&2; exit 2; }

# `explain 'TEXT'`: which failure modes of docs/failure-atlas.md print TEXT (a client's error or a
# server log line): scripts/cert-doctor-explain.py answers.
if [[ ${1:-} == explain ]]; then shift; exec python3 "$(dirname "$0")/cert-doctor-explain.py" "$@"; fi

cert="" ca=certs/ca.crt key="" role=client host="" crl="" password=""
while (($# > 0)); do
  case $1 in
    --help | -h) usage; exit 0 ;;
    --ca | --key | --for | --host | --crl | --password)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --ca) ca=$2 ;;
        --key) key=$2 ;;
        --for) role=$2 ;;
        --host) host=$2 ;;
        --crl) crl=$2 ;;
        --password) password=$2 ;;
      esac
      shift ;;
    -*) die_usage "unknown option '$1'" ;;
    *) [[ -z $cert ]] || die_usage "only one CERT may be given ('$cert', then '$1')"
       cert=$1 ;;
  esac
  shift
done
[[ -n $cert ]] || die_usage "which certificate? give CERT, e.g. certs/client.crt"
# Without --password, a .p12 file's password may come from the environment (ps shows no environment
# to other users).
password_given=$password
[[ -n $password || $cert != *.p12 && $cert != *.pfx ]] || password=${CERT_DOCTOR_PASSWORD:-}
[[ $role == client || $role == server ]] || die_usage "--for must be client or server, not '$role'"
if [[ $role == client ]]; then
  [[ -z $host ]] || die_usage "--host is for --for server (chapter 03 does not check client names)"
else
  host=${host:-localhost}
  host=${host#[}; host=${host%]}   # [::1] as in a URL
fi

# --- Reading the files ------------------------------------------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# readable FILE WHAT: exit 2 naming FILE unless it can be read.
readable() {
  [[ -f $1 && -r $1 ]] || die_file "cannot read the $2 '$1'"
}

# split_certs FILE: writes each PEM certificate in FILE to $scratch/cert-N.pem; sets cert_count.
# FILE goes to awk on stdin: awk would take an operand such as a=b.crt for a variable assignment.
split_certs() {
  cert_count=$(awk -v out="$scratch/cert-" '
    /-----BEGIN CERTIFICATE-----/ { n++; keep = 1 }
    keep { print > (out (n - 1) ".pem") }
    /-----END CERTIFICATE-----/ { keep = 0 }
    END { print n + 0 }' <"$1")
}

readable "$cert" "certificate file"
readable "$ca" "CA file (--ca)"
[[ -z $key ]] || readable "$key" "key file (--key)"
[[ -z $crl ]] || readable "$crl" "CRL file (--crl)"

# A PKCS#12 file: take out its certificates (its own first, then the CA certificates it holds) and
# its key into the scratch folder, and read those. -legacy is needed for RC2-encrypted files
# (openssl pkcs12 -export -legacy, as older Keychain and Windows versions want).
pem=$cert key_label=$key p12=""
cert_out=$cert   # the PEM file a fix re-issues
if [[ $cert == *.p12 || $cert == *.pfx ]]; then
  p12=$cert cert_out=${cert%.*}.crt
  [[ -n $password ]] || die_usage "'$cert' is a PKCS#12 file: give its password with --password (or in CERT_DOCTOR_PASSWORD)"
  pem=$scratch/p12-certs.pem
  # openssl reads the password from its environment (env:), not from its command line, which any
  # user of the machine can read while it runs (ps, /proc/PID/cmdline); the environment only the
  # same user can.
  export CERT_DOCTOR_PASSWORD=$password
  p12_legacy=()
  openssl pkcs12 -in "$cert" -passin env:CERT_DOCTOR_PASSWORD -noout 2>/dev/null || p12_legacy=(-legacy)
  if ! openssl pkcs12 "${p12_legacy[@]}" -in "$cert" -passin env:CERT_DOCTOR_PASSWORD -noout 2>"$scratch/p12.err"; then
    die_file "cannot open the PKCS#12 file '$cert' with that password: $(grep -m 1 -o 'mac verify failure\|[a-z ]*unsupported[a-z ]*' "$scratch/p12.err" || head -n 1 "$scratch/p12.err")"
  fi
  { openssl pkcs12 "${p12_legacy[@]}" -in "$cert" -passin env:CERT_DOCTOR_PASSWORD -nokeys -clcerts &&
    openssl pkcs12 "${p12_legacy[@]}" -in "$cert" -passin env:CERT_DOCTOR_PASSWORD -nokeys -cacerts; } >"$pem" 2>/dev/null ||
    die_file "cannot read the certificates in '$cert'"
  if [[ -z $key ]]; then
    key=$scratch/p12.key key_label="the key in $cert"
    (umask 077 && openssl pkcs12 "${p12_legacy[@]}" -in "$cert" -passin env:CERT_DOCTOR_PASSWORD -nocerts -nodes \
       -out "$key" 2>/dev/null) || die_file "cannot read the private key in '$cert'"
  fi
elif [[ -n $password_given ]]; then
  die_usage "--password is for a PKCS#12 CERT (.p12 or .pfx)"
fi
split_certs "$pem"
if ((cert_count == 0)) || ! openssl x509 -in "$scratch/cert-0.pem" -noout 2>/dev/null; then
  die_file "'$cert' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
fi
openssl x509 -in "$ca" -noout 2>/dev/null || die_file "the CA file '$ca' holds no PEM certificate"
[[ -z $key ]] || openssl pkey -in "$key" -noout 2>/dev/null ||
  die_file "'$key' is not a private key openssl can read (PEM, no passphrase)"
[[ -z $crl ]] || openssl crl -in "$crl" -noout 2>/dev/null ||
  die_file "the CRL file '$crl' holds no PEM certificate revocation list"
leaf=$scratch/cert-0.pem

# --- Small helpers --------------------------------------------------------------------------------

# describe_certs: reads each certificate of CERT's file once with openssl and keeps what the checks
# need in $scratch/cert-N.info, one "what=value" line each: subject, issuer (as CN=x,O=y), serial,
# notBefore, notAfter (2026-11-23 16:39:20Z) and the extensions basicConstraints, extendedKeyUsage
# and subjectAltName (absent when the certificate has none).
describe_certs() {
  local i
  for ((i = 0; i < cert_count; i++)); do
    openssl x509 -in "$scratch/cert-$i.pem" -noout -subject -issuer -serial -startdate -enddate \
        -nameopt RFC2253 -dateopt iso_8601 -ext basicConstraints,extendedKeyUsage,subjectAltName 2>/dev/null |
      awk '/^X509v3 Basic Constraints/ { name = "basicConstraints"; next }
           /^X509v3 Extended Key Usage/ { name = "extendedKeyUsage"; next }
           /^X509v3 Subject Alternative Name/ { name = "subjectAltName"; next }
           /^ / { sub(/^ +/, ""); value[name] = value[name] (value[name] == "" ? "" : " ") $0; next }
           /^[A-Za-z]+=/ { print }
           END { for (name in value) print name "=" value[name] }' >"$scratch/cert-$i.info"
  done
}

# field N WHAT: one thing describe_certs kept about certificate N (0 is CERT itself); empty if none.
field() {
  local line
  while IFS= read -r line; do
    if [[ $line == "$2="* ]]; then
      echo "${line#*=}"
      return
    fi
  done <"$scratch/cert-$1.info"
}

# quote_words ARG...: the arguments as one line a learner can paste into a shell. A word with
# anything but letters, digits and _./:=,+@%- goes inside single quotes, where only a quote is
# special, so each ' in it is written '\'' (close, an escaped quote, open again): a subject or a
# folder name holding $(...), backquotes or quotes then stays text and is never run.
quote_words() {
  local plain='^[A-Za-z0-9_./:=,+@%-]+$' arg words="" quote="'" escaped="'\\''"
  for arg in "$@"; do
    if [[ $arg =~ $plain ]]; then words+=" $arg"; else words+=" '${arg//$quote/$escaped}'"; fi
  done
  echo "${words# }"
}

# days_from_now DATE: whole days from now to DATE ("2026-11-23 16:39:20Z"); negative in the past.
days_from_now() {
  local when
  when=$(date -u -d "$1" +%s 2>/dev/null || date -u -j -f '%Y-%m-%d %H:%M:%SZ' "$1" +%s)
  echo $(((when - $(date +%s)) / 86400))
}

# cert_for SUBJECT: prints a .crt file next to CERT or CA whose subject is SUBJECT, if any.
cert_for() {
  local file
  for file in "$(dirname "$cert")"/*.crt "$(dirname "$ca")"/*.crt; do
    [[ -f $file ]] || continue
    if [[ $(openssl x509 -in "$file" -noout -subject -nameopt RFC2253 2>/dev/null) == "subject=$1" ]]; then
      echo "$file"
      return 0
    fi
  done
  return 1
}

# --- Findings ---------------------------------------------------------------------------------------
problems=0
failed=" "   # the checks that found a problem: " chain dates purpose ... "

ok() { printf '✓ %s\n' "$1"; }
note() { printf '· %s\n' "$1"; }
# problem CHECK TEXT: one ✗ line; the fix lines follow (fix ...).
problem() {
  printf '✗ %s\n' "$2"
  problems=$((problems + 1))
  failed+="$1 "
}
# fix LINE...: the commands that fix the problem above, one per line.
fix() {
  printf '  fix: %s\n' "$1"
  shift
  (($# == 0)) || printf '       %s\n' "$@"
}

# The files a re-issue works with, named after CERT: client.crt -> client.key, client.csr, ...
base=${cert_out%.crt}
key_file=${key:-$base.key}
[[ -z $p12 || $key_label == "$key" ]] || key_file=$base.key   # the key came out of the .p12

# p12_export_line: the command that makes the PKCS#12 file again from the re-issued PEM files
# (it asks for the new file's password).
p12_export_line() {
  quote_words openssl pkcs12 -export -inkey "$key_file" -in "$cert_out" -certfile "$ca" \
    -name "$(basename "$base")" -out "$p12"
}
ca_key=${ca%.crt}.key

# reissue_fix [new-key] [ISSUER_CRT]: fix lines that make CERT again, the way scripts/gen-certs.sh
# does: (a new key,) a CSR with the same subject, and an extension file fit for the role, signed by
# ISSUER_CRT (default CA).
reissue_fix() {
  local new_key=0 issuer=$ca issuer_key=$ca_key subject usage san lines=() ext=()
  if [[ ${1:-} == new-key ]]; then new_key=1; shift; fi
  if [[ -n ${1:-} ]]; then issuer=$1; issuer_key=${1%.crt}.key; fi
  subject=$(openssl x509 -in "$leaf" -noout -subject -nameopt compat | sed 's/^subject=//')
  if openssl x509 -in "$leaf" -noout -text | grep -q 'id-ecPublicKey'; then
    usage=digitalSignature
    ((new_key == 0)) || lines+=("$(quote_words openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key_file")")
  else
    usage="digitalSignature, keyEncipherment"
    ((new_key == 0)) || lines+=("$(quote_words openssl genrsa -out "$key_file" 2048)")
  fi
  ext=("basicConstraints = CA:FALSE" "keyUsage = critical, $usage" "extendedKeyUsage = ${role}Auth")
  if [[ $role == server ]]; then
    san=$(wanted_names)
    ext+=("subjectAltName = $san")
  fi
  ext+=("subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid, issuer")
  lines+=("$(quote_words printf '%s\n' "${ext[@]}") > $(quote_words "$base.ext")"
          "$(quote_words openssl req -new -key "$key_file" -subj "$subject" -out "$base.csr")"
          "$(quote_words openssl x509 -req -in "$base.csr" -CA "$issuer" -CAkey "$issuer_key" -days 825 \
               -sha256 -extfile "$base.ext" -out "$cert_out")")
  [[ -z $p12 ]] || lines+=("$(p12_export_line)")
  fix "${lines[@]}"
}

# --- What openssl verify says, with the options 03 or 04 use ---------------------------------------
is_ip() { [[ $1 == *:* || $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; }

# Chapter 03 and the 04 client keep libssl's default security level, 2 (OpenSSL 3.2 and later, and
# Debian's and Fedora's builds of 3.0 and 3.1): every key in the chain needs 112-bit security (RSA
# 2048 bits, ECDSA 224) and every signature a digest as strong (SHA-1 falls short). openssl verify
# applies no level unless told with -auth_level.
security_level=2
judge="chapter 03"
[[ $role == client ]] || judge="the 04 client"

chain_args=(-CAfile "$ca")   # what we trust, and the certificates sent along with CERT
((cert_count == 1)) || chain_args+=(-untrusted "$pem")
verify_args=("${chain_args[@]}" -purpose "ssl$role" -auth_level "$security_level")
[[ -z $crl ]] || verify_args+=(-crl_check_all -CRLfile "$crl")
if [[ $role == server ]]; then
  if is_ip "$host"; then verify_args+=(-verify_ip "$host"); else verify_args+=(-verify_hostname "$host"); fi
fi

# verify_errors ARGS...: runs openssl verify ARGS... on the first certificate and prints each
# problem it reports as "CODE DEPTH MESSAGE", in order (nothing when it says OK).
verify_errors() {
  { openssl verify "$@" "$leaf" 2>&1 || true; } |
    sed -n 's/^error \([0-9]*\) at \([0-9]*\) depth lookup: \(.*\)$/\1 \2 \3/p'
}
verdict_errors=$(verify_errors "${verify_args[@]}")

# subject_at DEPTH: the subject of the certificate at DEPTH of the chain (CERT's file order).
subject_at() {
  if (($1 < cert_count)); then field "$1" subject; else echo "the CA in $ca"; fi
}

# --- The checks -------------------------------------------------------------------------------------

# issuers_sent: " (through X, then Y)" for the issuers in CERT's file after the first certificate.
issuers_sent() {
  local i names=""
  for ((i = 1; i < cert_count; i++)); do names+="${names:+, then }$(field "$i" subject)"; done
  [[ -z $names ]] || echo " (through $names, sent with it)"
}

# The chain: does CERT lead, through the certificates sent with it, to a CA in --ca?
check_chain() {
  local code depth message issuer found
  read -r code depth message < <(grep -E '^(2|18|19|20|21|27) ' <<<"$verdict_errors" | head -n 1) || true
  issuer=$(field $((cert_count - 1)) issuer)
  case ${code:-} in
    "")
      ok "it chains to $issuer, which $ca holds$(issuers_sent)" ;;
    18)
      problem chain "it is self-signed: it was signed with its own key ($(field 0 subject)), so no CA vouches for it (OpenSSL: self-signed certificate)"
      reissue_fix ;;
    19)
      problem chain "its chain ends at $(field "$depth" subject), a root CA that $ca does not hold (OpenSSL: $message)"
      reissue_fix ;;
    *)
      issuer=$(field "$depth" issuer)
      found=$(cert_for "$issuer") || found=""
      message="it does not chain to $ca: $(field "$depth" subject) was issued by $issuer, and neither $ca nor $cert holds that issuer's certificate (OpenSSL: $message)"
      if [[ -n $found && $(field_of_file "$found" issuer) != "$issuer" ]]; then
        problem chain "$message; $issuer is an intermediate CA ($found): send it along"
        if [[ -z $p12 ]]; then fix "$(quote_words cat "$found") >> $(quote_words "$cert")"
        else fix "$(quote_words cat "$found") >> $(quote_words "$cert_out")" "$(p12_export_line)"; fi
      else
        [[ -z $found ]] || message+="; $found is that CA: trusting it (--ca $found) would accept everything it signs, so rather have your CA sign"
        problem chain "$message"
        reissue_fix
      fi ;;
  esac
}

# field_of_file FILE WHAT: subject or issuer of the certificate in FILE.
field_of_file() {
  openssl x509 -in "$1" -noout "-$2" -nameopt RFC2253 | sed 's/^[a-z]*=//'
}

# Every issuer sent along with CERT must be a CA (basicConstraints CA:TRUE).
check_issuers() {
  local i constraints bad=0
  if ((cert_count == 1)); then
    ok "no issuer certificates come with it (only the certificate itself is in $cert)"
    return
  fi
  for ((i = 1; i < cert_count; i++)); do
    constraints=$(field "$i" basicConstraints)
    [[ $constraints != *CA:TRUE* ]] || continue
    bad=1
    problem issuers "$(field "$i" subject), which signed $(field $((i - 1)) subject), is not a CA (basicConstraints: ${constraints:-none}), so it may not issue certificates (OpenSSL: invalid CA certificate)"
    reissue_fix
  done
  ((bad)) || ok "every issuer sent with it is a CA (CA:TRUE)"
}

# Validity dates of every certificate in CERT's file (the leaf always gets a line).
check_dates() {
  local i start end now
  now=$(date -u '+%Y-%m-%d %H:%M:%SZ')   # compares as text with the dates openssl prints
  for ((i = 0; i < cert_count; i++)); do
    start=$(field "$i" notBefore)
    end=$(field "$i" notAfter)
    if [[ ! $now < "$end" ]]; then
      problem dates "$(field "$i" subject) has expired: it was valid until $end, $((-$(days_from_now "$end"))) days ago (OpenSSL: certificate has expired)"
      reissue_fix
    elif [[ $now < "$start" ]]; then
      problem dates "$(field "$i" subject) is not valid yet: it starts on $start, in $(days_from_now "$start") days (OpenSSL: certificate is not yet valid)"
      reissue_fix
    elif ((i == 0)); then
      ok "it is valid from $start until $end ($(days_from_now "$end") days left)"
    fi
  done
}

# key_and_signature N: "RSA 2048 bits, signed with sha256WithRSAEncryption" for certificate N.
key_and_signature() {
  openssl x509 -in "$scratch/cert-$1.pem" -noout -text |
    awk '/Signature Algorithm:/ && !signature { signature = $3 }
         /Public Key Algorithm:/ { type = ($4 == "id-ecPublicKey") ? "ECDSA" : ($4 == "rsaEncryption") ? "RSA" : $4 }
         /Public-Key: \(/ { bits = $0; sub(/.*\(/, "", bits); sub(/ bit\).*/, "", bits) }
         END { printf "%s %s bits, signed with %s\n", type, bits, signature }'
}

# The strength of keys and signatures, at the security level chapter 03 and the 04 client keep.
check_strength() {
  local code depth message bad=0
  while read -r code depth message; do
    case $code in
      66)
        bad=1
        problem strength "its key is too weak ($(key_and_signature 0)): at OpenSSL's security level $security_level, which $judge keeps, a key needs 112-bit security: RSA 2048 bits or more, ECDSA 224 (OpenSSL: $message)"
        reissue_fix new-key ;;
      67)
        bad=1
        problem strength "the key of $(subject_at "$depth"), a CA in its chain, is too weak$( ((depth < cert_count)) && echo " ($(key_and_signature "$depth"))"): at OpenSSL's security level $security_level, which $judge keeps, every key needs 112-bit security: RSA 2048 bits or more, ECDSA 224 (OpenSSL: $message)"
        fix "make a new CA with a 3072-bit RSA key, as scripts/gen-certs.sh makes ca, and have it issue the certificate again" ;;
      68)
        bad=1
        if ((depth < cert_count)); then message="$(field "$depth" subject) is $(key_and_signature "$depth" | sed 's/.*, //'): at OpenSSL's security level $security_level, which $judge keeps, SHA-1 and weaker digests are refused (OpenSSL: $message)"
        else message="a signature in its chain uses SHA-1 or a weaker digest, which OpenSSL's security level $security_level, kept by $judge, refuses (OpenSSL: $message)"; fi
        problem strength "$message"
        if ((depth == 0)); then reissue_fix
        else fix "have its issuer sign that CA certificate again, with -sha256 (openssl x509 -req ... -sha256)"; fi ;;
    esac
  done <<<"$verdict_errors"
  ((bad)) || ok "its key and signature are strong enough for OpenSSL's security level $security_level, which $judge keeps ($(key_and_signature 0))"
}

# extendedKeyUsage: clientAuth for chapter 03, serverAuth for the 04 client.
check_purpose() {
  local eku wanted="TLS Web ${role^} Authentication"
  eku=$(field 0 extendedKeyUsage)
  if [[ -z $eku ]]; then
    ok "it has no extendedKeyUsage, so OpenSSL allows any purpose (better: extendedKeyUsage = ${role}Auth)"
  elif [[ $eku == *"$wanted"* ]]; then
    ok "its extendedKeyUsage allows ${role}Auth ($eku)"
  else
    problem purpose "its extendedKeyUsage is '$eku', without ${role}Auth: it is not meant for a TLS $role (OpenSSL: unsuitable certificate purpose)"
    reissue_fix
  fi
}

# wanted_names: the subjectAltName a re-issued server certificate needs: what it has, plus --host.
wanted_names() {
  local san entry
  san=$(field 0 subjectAltName | sed 's/IP Address:/IP:/g')
  if is_ip "$host"; then entry="IP:$host"; else entry="DNS:$host"; fi
  if [[ -z $san ]]; then echo "$entry"
  elif [[ ", $san, " == *", $entry, "* ]]; then echo "$san"
  else echo "$san, $entry"; fi
}

# dns_name_matches PATTERN HOST: true when the subjectAltName DNS entry PATTERN covers HOST by the
# 04 client's rule (X509_check_host with X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS): the same name, letter
# case aside, or a wildcard that is the whole leftmost label ("*.example.com") followed by at least
# two labels, standing for exactly one label of HOST. "w*.example.com" covers nothing, though
# openssl x509 -checkhost and openssl verify, which take no such flag, say it covers www.example.com.
dns_name_matches() {
  local pattern=${1,,} host=${2,,} rest first
  [[ $pattern != *'*'* && $pattern == "$host" ]] && return 0
  [[ $pattern == '*.'* ]] || return 1
  rest=${pattern#\*.}
  [[ $rest == *.* && $rest != *'*'* && $host == *".$rest" ]] || return 1
  first=${host%".$rest"}
  [[ -n $first && $first != *.* ]]
}

# dns_names: the DNS entries of CERT's subjectAltName, one a line.
dns_names() {
  local entry entries
  IFS=',' read -ra entries <<<"$(field 0 subjectAltName)"
  for entry in "${entries[@]}"; do
    entry=${entry# }
    [[ $entry != DNS:* ]] || echo "${entry#DNS:}"
  done
}

# subjectAltName for --host (servers only): the 04 client never falls back to the subject CN.
check_name() {
  local san kind=Hostname flag=-checkhost name wildcards=""
  [[ $role == server ]] || return 0
  san=$(field 0 subjectAltName)
  if is_ip "$host"; then kind=IP flag=-checkip; fi
  if [[ $kind == Hostname ]]; then
    while IFS= read -r name; do
      [[ -n $name ]] || continue
      if dns_name_matches "$name" "$host"; then
        ok "its subjectAltName covers $host ($san)"
        return
      fi
      # A wildcard inside a label, or not in the leftmost one: openssl may match it, the client not.
      [[ $name != *'*'* || ( $name == '*.'* && ${name#\*.} != *'*'* ) ]] || wildcards+="${wildcards:+, }DNS:$name"
    done < <(dns_names)
  fi
  if openssl x509 -in "$leaf" -noout "$flag" "$host" | grep -q ' does match'; then
    if [[ $kind == IP ]]; then
      ok "its subjectAltName covers $host ($san)"
      return
    elif [[ $san == *DNS:* ]]; then
      problem name "it covers $host only through $wildcards, a wildcard that is not the whole leftmost label: the 04 client, as RFC 9525 asks, takes a wildcard only as a whole leftmost label (*.example.com), where openssl verify accepts one inside a label too (OpenSSL in the 04 client: hostname mismatch)"
    else
      problem name "$host is only in the subject CN ($(field 0 subject)), and it has no subjectAltName DNS entry: the 04 client reads only subjectAltName (curl, openssl verify and Python still fall back to the CN)"
    fi
  elif [[ $kind == IP ]]; then
    problem name "its subjectAltName has no IP Address:$host entry (it has: ${san:-no subjectAltName at all}); the 04 client needs one for an IP address (OpenSSL: IP address mismatch)"
  else
    problem name "it is not for $host: its subjectAltName has ${san:-nothing} (OpenSSL: hostname mismatch)"
  fi
  reissue_fix
}

# --key: the private key must be the one the certificate was made for.
check_key() {
  [[ -n $key ]] || return 0
  if [[ $(openssl x509 -in "$leaf" -noout -pubkey) == "$(openssl pkey -in "$key" -pubout)" ]]; then
    ok "$key_label is its private key (same public key)"
    return
  fi
  problem key "$key_label does not match it: the key belongs to another certificate, and the TLS handshake would fail"
  fix "compare the two public keys; use the .key made together with $(quote_words "$cert"):" \
      "$(quote_words openssl x509 -in "$cert_out" -noout -pubkey) | openssl sha256" \
      "$(quote_words openssl pkey -in "$key" -pubout) | openssl sha256"
}

# crl_dates ISSUER: "was due for its next update on DATE" or "is valid only from DATE" for ISSUER's
# CRL in the --crl file (what makes it unusable), from the first CRL in that file that ISSUER signed.
crl_dates() {
  local file last next now
  awk -v out="$scratch/crl-" '
    /-----BEGIN X509 CRL-----/ { n++; keep = 1 }
    keep { print > (out (n - 1) ".pem") }
    /-----END X509 CRL-----/ { keep = 0 }' <"$crl"
  now=$(date -u '+%Y-%m-%d %H:%M:%SZ')
  for file in "$scratch"/crl-*.pem; do
    [[ -f $file && $(openssl crl -in "$file" -noout -issuer -nameopt RFC2253) == "issuer=$1" ]] || continue
    last=$(openssl crl -in "$file" -noout -lastupdate -dateopt iso_8601 | sed 's/^[^=]*=//')
    next=$(openssl crl -in "$file" -noout -nextupdate -dateopt iso_8601 | sed 's/^[^=]*=//')
    if [[ $now < "$last" ]]; then echo "is valid only from $last"
    else echo "was due for its next update on $next, $((-$(days_from_now "$next"))) days ago"; fi
    return
  done
  echo "is out of date"
}

# --crl: as chapter 03 checks (CRL_CHECK_ALL), every certificate of the chain needs its issuer's CRL
# in the file, and none may be listed in it.
check_revocation() {
  local errors code depth message issuer found
  [[ -n $crl ]] || return 0
  if [[ $failed == *" chain "* ]]; then
    note "revocation not checked: the chain has to be right first"
    return
  fi
  errors=$(verify_errors -no_check_time "${chain_args[@]}" -crl_check_all -CRLfile "$crl")
  read -r code depth message < <(grep -E '^(3|8|11|12|23|33|35|36|44) ' <<<"$errors" | head -n 1) || true
  # That run leaves the dates out (so an expired certificate does not hide a revocation); a CRL
  # past its next update, or not valid yet, makes chapter 03 refuse the client all the same.
  [[ -n ${code:-} ]] || read -r code depth message < <(grep -E '^(11|12) ' <<<"$verdict_errors" | head -n 1) || true
  case ${code:-} in
    "")
      if [[ -z $errors ]]; then ok "$crl holds the CRL of every CA in its chain, and none lists it"
      else note "revocation not checked: the chain has to be right first"; fi ;;
    11 | 12)
      issuer=$(field "$depth" issuer)
      problem crl "the CRL from $issuer in $crl $(crl_dates "$issuer"): chapter 03 refuses every certificate $issuer issued until it gets a current one, whatever the CRL lists (OpenSSL: $message)"
      fix "publish a fresh CRL with the issuing CA: openssl ca -gencrl -out ISSUER.crl (scripts/gen-certs.sh does it for the fixtures)" ;;
    23)
      if ((depth > 0)); then
        problem crl "$(field "$depth" subject), a CA in its chain, is revoked: $crl ($(field "$depth" issuer)'s CRL) lists serial $(field "$depth" serial) (OpenSSL: certificate revoked); nothing it issued is accepted any more"
        fix "get a new certificate from a CA that is not revoked"
      else
        problem crl "it is revoked: $crl ($(field "$depth" issuer)'s CRL) lists serial $(field "$depth" serial) (OpenSSL: certificate revoked); it stays revoked: make a new key and certificate"
        reissue_fix new-key
      fi ;;
    3)
      issuer=$(field "$depth" issuer)
      problem crl "$crl has no CRL from $issuer, which issued $(field "$depth" subject); with --crl, chapter 03 needs the CRL of every CA in the chain, the root's included (OpenSSL: unable to get certificate CRL)"
      if found=$(cert_for "$issuer"); then
        fix "$(quote_words cat "$crl" "${found%.crt}.crl") > all.crl     # then --crl all.crl"
      else
        fix "$(quote_words cat "$crl") ISSUER.crl > all.crl     # ISSUER.crl: the CRL $issuer publishes; then --crl all.crl"
      fi ;;
    *)
      problem crl "the CRL for $(field "$depth" subject) is not usable (OpenSSL: $message)"
      fix "publish a fresh CRL with the issuing CA: openssl ca -gencrl -out ISSUER.crl (scripts/gen-certs.sh does it for the fixtures)" ;;
  esac
}

# category CODE DEPTH: which check explains an openssl verify error.
category() {
  case $1 in
    2 | 18 | 19 | 20 | 21 | 27) echo chain ;;
    9 | 10) if (($2 < cert_count)); then echo dates; else echo other; fi ;;
    24 | 25 | 26 | 32 | 79) if (($2 == 0)); then echo purpose; else echo issuers; fi ;;
    62 | 63 | 64) echo name ;;
    66 | 67 | 68) echo strength ;;
    3 | 8 | 11 | 12 | 23 | 33 | 35 | 36 | 44) echo crl ;;
    *) echo other ;;
  esac
}

# Anything openssl verify finds that no check above explains is reported as it is.
check_the_rest() {
  local code depth message seen=""
  while read -r code depth message; do
    [[ -n $code && $failed != *" $(category "$code" "$depth") "* && $seen != *"|$message|"* ]] || continue
    seen+="|$message|"
    problem other "openssl verify also reports, for $(subject_at "$depth"): $message"
    fix "$(quote_words openssl verify "${verify_args[@]}" "$cert_out")"
  done <<<"$verdict_errors"
}

# --- Report -----------------------------------------------------------------------------------------
describe_certs
if [[ $role == client ]]; then
  echo "$cert: $(field 0 subject), issued by $(field 0 issuer): as a client certificate for chapter 03 (--ca $ca${crl:+ --crl $crl})"
else
  echo "$cert: $(field 0 subject), issued by $(field 0 issuer): as the server certificate for $host, for the 04 client (--ca $ca)"
fi
check_chain
check_issuers
check_dates
check_strength
check_purpose
check_name
check_key
check_revocation
check_the_rest

if ((problems == 0)); then
  echo "verdict: accepted"
  exit 0
fi
first=$(head -n 1 <<<"$verdict_errors" | cut -d' ' -f3-)
[[ -z $first ]] || note "OpenSSL's first complaint, the one $([[ $role == client ]] && echo "chapter 03 logs" || echo "the 04 client reports"): $first"
echo "verdict: refused ($problems problem$([[ $problems == 1 ]] || echo s))"
exit 1
