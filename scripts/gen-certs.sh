#!/usr/bin/env bash
# gen-certs.sh: make every private key, certificate and CRL this suite uses, with the openssl CLI only.
#
#   scripts/gen-certs.sh [--force] [--quiet-fixtures] [DIR]   (DIR defaults to certs/ in the repository)
#
# Each command is printed before it runs, with one line saying why, so `make certs` doubles as the
# recipe: copy the `$ ...` lines into a shell inside DIR and you get the same files.
# --quiet-fixtures (what `make demo` uses) prints parts 1 and 2 in full, then one line per further
# fixture ("made expired-client: ..."), and keeps the full output in DIR/gen-certs.log.
#
# Part 1 is the recipe the articles walk through (a CA, a server and a client certificate), written
# out literally. Part 2 repeats it for an unrelated CA. The rest are the fixtures later chapters
# test with; each is one line, so a new chapter adds a fixture with one more line, for example:
#   issue_leaf NAME ISSUER EKU [san=SAN] [cn=CN] [key=ec] [valid=FROM:TO] [chain]
# (FROM and TO are days from today; a negative number is in the past.) See certs/README.md.
#
# A fixture whose NAME.key and NAME.crt both exist is kept ("kept NAME"), unless something it is
# built from was made again in this run; --force makes everything again.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/gen-certs.sh [--force] [--quiet-fixtures] [DIR]

Make the keys, certificates and CRL used by the chapters and tests in DIR
(default: certs/ in the repository; a relative DIR is relative to the current directory).
Existing NAME.key + NAME.crt pairs are kept; --force makes everything again.
Set OPENSSL=/path/to/openssl to pick the openssl program (OpenSSL 3 is required).

  --force            make every file again
  --quiet-fixtures   show the articles' recipe (CA, server, client, other CA) in full, then one
                     line per further fixture; the full output goes to DIR/gen-certs.log
  --help             show this help
EOF
}

force=0
quiet_fixtures=0
dir=""
while (($# > 0)); do
  case $1 in
    --force) force=1 ;;
    --quiet-fixtures) quiet_fixtures=1 ;;
    --help | -h) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "gen-certs.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) [[ -z $dir ]] || { echo "gen-certs.sh: only one DIR may be given" >&2; usage >&2; exit 2; }
       dir=$1 ;;
  esac
  shift
done
if (($# > 0)); then
  [[ -z $dir && $# -eq 1 ]] || { echo "gen-certs.sh: only one DIR may be given" >&2; usage >&2; exit 2; }
  dir=$1
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${dir:-$repo_root/certs}

# Whatever the caller's umask (000 leaves new files writable by anyone), what this script makes is
# writable by its owner only: the folder 0755, certificates and CRLs 0644 (run also sets that mode
# on a file made again). A key or .p12 file is made 0600, readable by its owner only (run_keygen).
umask 022

# --quiet-fixtures: run this script again, in full, into DIR/gen-certs.log, and show the log up to
# the fixtures (the articles' recipe) and then only its "made NAME: ..." and "kept NAME" lines.
# Errors still reach the terminal: they go to stderr, which is not filtered.
if ((quiet_fixtures)); then
  mkdir -p -- "$dir"
  log=$(cd -- "$dir" && pwd)/gen-certs.log
  again=()
  ((force == 0)) || again+=(--force)
  set +e
  bash "${BASH_SOURCE[0]}" "${again[@]}" -- "$dir" | tee "$log" | awk '
    /^== the fixtures/ { fixtures = 1
                          print "== the fixtures the tests use, one line each (every command is in the log)"; next }
    !fixtures || /^(made|kept) / || /^Done/ { print }'
  status=${PIPESTATUS[0]}
  set -e
  echo "The full output of scripts/gen-certs.sh, every command with its reason: $log"
  exit "$status"
fi

# --- The openssl program --------------------------------------------------------------------------
# OpenSSL 3 is needed (x509 -req picks random serial numbers; openssl ca has -rand_serial). macOS
# ships LibreSSL as `openssl`, so Homebrew's OpenSSL 3 is tried when that is what PATH finds.
find_openssl() {
  local candidate
  for candidate in "${OPENSSL:-openssl}" /opt/homebrew/opt/openssl@3/bin/openssl \
                   /usr/local/opt/openssl@3/bin/openssl; do
    if [[ $("$candidate" version 2>/dev/null) == "OpenSSL 3."* ]]; then
      echo "$candidate"
      return 0
    fi
  done
  local found
  found=$("${OPENSSL:-openssl}" version 2>/dev/null) || found="no working ${OPENSSL:-openssl}"
  echo "gen-certs.sh: needs the openssl program of OpenSSL 3, found: $found" >&2
  echo "gen-certs.sh: install OpenSSL 3 (Debian: apt-get install openssl; macOS: brew install openssl@3)," \
       "or set OPENSSL=/path/to/openssl" >&2
  exit 1
}
openssl_program=$(find_openssl)
openssl() { command "$openssl_program" "$@"; }

# --- Printing and running commands ----------------------------------------------------------------

# shell_words ARG...: set $words to the arguments as one line a learner can paste into a shell.
# (Functions here set variables rather than print, so the script does not fork a subshell per step.)
# A word with anything but letters, digits and _./:=,+@%- goes inside single quotes, where only a
# quote is special, so each ' in it is written '\'' (close, an escaped quote, open again): a folder
# named with $(...), backquotes or quotes stays a name when the line is pasted, and runs nothing.
shell_words() {
  local plain='^[A-Za-z0-9_./:=,+@%-]+$' arg quote="'" escaped="'\\''"
  words=""
  for arg in "$@"; do
    if [[ $arg =~ $plain ]]; then words+=" $arg"; else words+=" '${arg//$quote/$escaped}'"; fi
  done
  words=${words# }
}

# run WHY COMMAND...: print "# WHY" and "$ COMMAND", then run it. Its chatter is shown only if it fails.
run() {
  local why=$1 words arg previous="" out=""
  shift
  shell_words "$@"
  printf '# %s\n$ %s\n' "$why" "$words"
  if ! "$@" >"$chatter" 2>&1; then
    cat "$chatter" >&2
    echo "gen-certs.sh: this command failed: $words" >&2
    exit 1
  fi
  # openssl keeps the mode of a file it writes over: a certificate or CRL (-out FILE) made again
  # over one left writable by anyone is made 0644 here.
  for arg in "$@"; do
    [[ $previous != -out ]] || out=$arg
    previous=$arg
  done
  case $out in *.crt | *.crl) chmod 644 "$out" ;; esac
}

# run_keygen WHY COMMAND...: like run, for a command that writes a private key (-out FILE):
# the key is created readable by its owner only (umask 077) and kept at mode 0600.
run_keygen() {
  local arg previous="" key="" saved_umask
  for arg in "${@:2}"; do
    [[ $previous == -out ]] && key=$arg
    previous=$arg
  done
  saved_umask=$(umask)
  umask 077
  run "$@"
  umask "$saved_umask"
  chmod 600 "$key"
}

# write_file FILE WHY < TEXT: show the file as a here-document a learner could type, then write it.
write_file() {
  local file=$1 why=$2 text
  IFS= read -r -d '' text || true
  text=${text%$'\n'}
  printf "# %s\n\$ cat > %s <<'EOF'\n%s\nEOF\n" "$why" "$file" "$text"
  printf '%s\n' "$text" >"$file"
}

# --- Keeping what exists --------------------------------------------------------------------------
made=" "   # names made in this run, space separated (bash 3.2 on macOS has no associative arrays)

# needs NAME [BUILT_FROM...]: true when NAME must be made: --force, NAME.key or NAME.crt missing,
# or one of BUILT_FROM was made in this run (a new CA invalidates what the old one signed).
# Otherwise prints "kept NAME". NAME's CSR and .ext file are deleted when the script ends.
needs() {
  local name=$1 from
  shift
  if ((force == 0)) && [[ -f $name.key && -f $name.crt ]]; then
    if ! from=$(made_now "$@"); then
      echo "kept $name"
      return 1
    fi
    printf '\n== %s (again: %s is new)\n' "$name" "$from"
  else
    printf '\n== %s\n' "$name"
  fi
  made+="$name "
}

# made_now NAME...: print the first NAME made in this run; false if none was.
made_now() {
  local name
  for name in "$@"; do
    if [[ $made == *" $name "* ]]; then
      echo "$name"
      return 0
    fi
  done
  return 1
}

# The requests (.csr) and extension files (.ext) are only needed while signing; .ca-db holds the
# scratch database of `openssl ca` and the output of the last command. Nothing else is left behind.
clean_up() {
  local name
  for name in $made; do rm -f "$name.csr" "$name.ext"; done
  rm -rf .ca-db
}

# --- Dates for openssl ca -------------------------------------------------------------------------
# ca_time DAYS: the time DAYS days from now (negative: in the past), in UTC, in the
# YYYYMMDDHHMMSSZ form that `openssl ca -startdate/-enddate` read.
ca_time() {
  local days=$1 format=+%Y%m%d%H%M%SZ shift_by
  if date --version >/dev/null 2>&1; then                      # GNU date (Linux)
    date -u -d "$days days" "$format"
  elif shift_by=$([[ $days == -* ]] && echo "$days" || echo "+$days") &&
       date -u -v"${shift_by}d" "$format" 2>/dev/null; then   # BSD date (macOS)
    :
  elif command -v python3 >/dev/null; then
    python3 -c 'import datetime, sys
t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=int(sys.argv[1]))
print(t.strftime("%Y%m%d%H%M%SZ"))' "$days"
  else
    echo "gen-certs.sh: cannot compute a date $days days from now (need GNU date, BSD date or python3)" >&2
    exit 1
  fi
}

# ca_database ISSUER [DB]: the small configuration and database `openssl ca` needs to sign with (or
# revoke for) ISSUER, named DB (default ISSUER; each CRL file gets its own, so that what one CRL
# revokes does not leak into another). `openssl x509 -req` cannot back-date a certificate or keep a
# list of revoked ones; `openssl ca` can, but wants this bookkeeping. Made once per run, in .ca-db/.
ca_database() {
  local issuer=$1 db=${2:-$1}
  [[ -f .ca-db/$db.cnf ]] && return 0
  run "openssl ca keeps its bookkeeping in files; ours live in a private scratch folder" \
    mkdir -p .ca-db
  run "an empty database of what $issuer has issued and revoked" \
    touch ".ca-db/$db.index"
  # The CRL number must grow with every CRL a CA publishes; the clock gives that for free.
  write_file ".ca-db/$db.crlnumber" "the number of the next CRL $issuer publishes" \
    <<<"$(printf '%08X' "$(date +%s)")"
  write_file ".ca-db/$db.cnf" "how openssl ca signs as $issuer: random serials, SHA-256, CRLs valid 30 days" <<EOF
[ ca ]
default_ca = this_ca

[ this_ca ]
certificate      = $issuer.crt
private_key      = $issuer.key
database         = .ca-db/$db.index
crlnumber        = .ca-db/$db.crlnumber
new_certs_dir    = .ca-db
rand_serial      = yes
unique_subject   = no
default_md       = sha256
default_crl_days = 30
copy_extensions  = none
policy           = any_common_name
crl_extensions   = crl_extensions

[ any_common_name ]
commonName = supplied

[ crl_extensions ]
authorityKeyIdentifier = keyid:always
EOF
}

# --- The recipe as functions (the same steps as part 1, for the fixtures after it) -----------------

# new_key NAME rsa|ec: a private key for NAME.
new_key() {
  local name=$1 type=$2
  if [[ $type == ec ]]; then
    run_keygen "a private key for $name on the P-256 curve (ECDSA); only its owner may read it" \
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
  else
    run_keygen "a 2048-bit RSA private key for $name; only its owner may read it" \
      openssl genrsa -out "$name.key" 2048
  fi
}

# new_request NAME CN: a certificate signing request (CSR) for NAME's key, with subject CN=CN.
new_request() {
  run "a signing request (CSR): ${1}'s public key and the name CN=$2, signed with its private key" \
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
}

# leaf_extensions EKU SAN KEYTYPE ISSUER: the extensions of an end-entity (leaf) certificate.
leaf_extensions() {
  local eku=$1 san=$2 type=$3 issuer=$4
  echo "basicConstraints = CA:FALSE"
  if [[ $type == ec ]]; then
    echo "keyUsage = critical, digitalSignature"                   # ECDSA keys only sign
  else
    echo "keyUsage = critical, digitalSignature, keyEncipherment"  # RSA may also encrypt
  fi
  echo "extendedKeyUsage = $eku"
  [[ -z $san ]] || echo "subjectAltName = $san"
  echo "subjectKeyIdentifier = hash"
  [[ $issuer == self ]] || echo "authorityKeyIdentifier = keyid, issuer"
}

# issue_leaf NAME ISSUER EKU [san=SAN] [cn=CN] [key=ec] [valid=FROM:TO] [chain]
#   NAME.key + NAME.crt: a leaf certificate with extendedKeyUsage EKU, signed by ISSUER.key
#   (ISSUER "self": signed with its own key). CN defaults to NAME; no SAN unless given.
#   valid=FROM:TO  validity from FROM to TO days from today, e.g. -730:-365 (signed with openssl ca)
#   chain          append ISSUER.crt to NAME.crt, as a client sends its chain
issue_leaf() {
  local name=$1 issuer=$2 eku=$3 san="" cn=$1 type=rsa valid="" chain=0 option not_before not_after
  shift 3
  for option in "$@"; do
    case $option in
      san=*) san=${option#san=} ;;
      cn=*) cn=${option#cn=} ;;
      key=*) type=${option#key=} ;;
      valid=*:*) valid=${option#valid=} ;;
      chain) chain=1 ;;
      *) echo "gen-certs.sh: issue_leaf $name: unknown option '$option'" >&2; exit 1 ;;
    esac
  done
  needs "$name" "$issuer" || return 0

  new_key "$name" "$type"
  new_request "$name" "$cn"
  write_file "$name.ext" "$name.ext: the extensions to write into the certificate (x509 -req and ca drop the CSR's own)" \
    <<<"$(leaf_extensions "$eku" "$san" "$type" "$issuer")"
  if [[ $issuer == self ]]; then
    run "$name signs its own request: a self-signed certificate no CA vouches for" \
      openssl x509 -req -in "$name.csr" -signkey "$name.key" -days 825 -sha256 \
        -extfile "$name.ext" -out "$name.crt"
  elif [[ -n $valid ]]; then
    ca_database "$issuer"
    not_before=$(ca_time "${valid%%:*}")
    not_after=$(ca_time "${valid##*:}")
    run "$issuer signs it valid from ${valid%%:*} to ${valid##*:} days from today (x509 -req cannot pick dates)" \
      openssl ca -config ".ca-db/$issuer.cnf" -batch -notext -in "$name.csr" -extfile "$name.ext" \
        -startdate "$not_before" -enddate "$not_after" -out "$name.crt"
  else
    run "$issuer signs it (OpenSSL 3 picks a random serial number); -extfile supplies the extensions" \
      openssl x509 -req -in "$name.csr" -CA "$issuer.crt" -CAkey "$issuer.key" -days 825 -sha256 \
        -extfile "$name.ext" -out "$name.crt"
  fi
  if ((chain)); then
    printf '# %s\n$ cat %s.crt >> %s.crt\n' \
      "append $issuer's certificate: the chain $name presents is the leaf, then its issuer" "$issuer" "$name"
    cat "$issuer.crt" >>"$name.crt"
  fi
  fixture_made "$name"
}

# make_ca NAME CN [ISSUER]: a CA certificate; a self-signed root, or signed by ISSUER with
# pathlen:0 (an intermediate that may sign leaves only).
make_ca() {
  local name=$1 cn=$2 issuer=${3:-}
  needs "$name" ${issuer:+"$issuer"} || return 0

  run_keygen "a 3072-bit RSA private key for $name, a CA that signs for 10 years (see ca.key)" \
    openssl genrsa -out "$name.key" 3072
  new_request "$name" "$cn"
  if [[ -z $issuer ]]; then
    write_file "$name.ext" "$name.ext: a CA certificate, allowed to sign certificates and CRLs" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    run "$name signs its own request: a self-signed root CA, valid 10 years" \
      openssl x509 -req -in "$name.csr" -signkey "$name.key" -days 3650 -sha256 \
        -extfile "$name.ext" -out "$name.crt"
  else
    write_file "$name.ext" "$name.ext: a CA under $issuer that may sign leaves but no further CAs (pathlen:0)" <<'EOF'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    run "$issuer signs it: an intermediate CA" \
      openssl x509 -req -in "$name.csr" -CA "$issuer.crt" -CAkey "$issuer.key" -days 3650 -sha256 \
        -extfile "$name.ext" -out "$name.crt"
  fi
  fixture_made "$name"
}

# publish_crl ISSUER FILE REVOKED...: FILE, a CRL signed by ISSUER that lists each REVOKED.crt.
# Made again when missing, older than a week (it expires after 30 days) or when its inputs are new.
publish_crl() {
  local issuer=$1 file=$2 name
  shift 2
  if ((force == 0)) && [[ -f $file && -z $(find "$file" -mtime +7) ]] &&
     ! made_now "$issuer" "$@" >/dev/null; then
    echo "kept $file"
    return 0
  fi
  printf '\n== %s\n' "$file"
  ca_database "$issuer" "$file"
  for name in "$@"; do
    run "$issuer revokes $name: its database now lists the serial as revoked (key compromised)" \
      openssl ca -config ".ca-db/$file.cnf" -batch -revoke "$name.crt" -crl_reason keyCompromise
  done
  run "$issuer publishes its revocation list (CRL), signed, next update due in 30 days" \
    openssl ca -config ".ca-db/$file.cnf" -batch -gencrl -out "$file"
  made+="$file "
  fixture_made "$file"
}

# combine_crls FILE CRL...: FILE holds every CRL given, one after the other: what --crl needs when
# clients' chains pass through several CAs. Made again when missing or when one of them is new.
combine_crls() {
  local file=$1
  shift
  if ((force == 0)) && [[ -f $file ]] && ! made_now "$@" >/dev/null; then
    echo "kept $file"
    return 0
  fi
  printf '\n== %s\n# %s\n$ cat %s > %s\n' "$file" \
    "one file with the CRL of every CA in the chain: with --crl, each level needs its issuer's CRL" "$*" "$file"
  cat "$@" >"$file"
  chmod 644 "$file"
  fixture_made "$file"
}

# fixture_made NAME: one line saying what NAME is and what it is for, e.g.
#   made expired-client: valid 2024-12-01 to 2025-12-01, issued by ca; for the expired-certificate test
fixture_made() {
  local name=$1 purpose dates="" issuer="" line
  case $name in
    other-ca) purpose="a CA nobody here trusts" ;;
    other-client) purpose="02 lets it in (the pitfall), 03 answers 403" ;;
    expired-client) purpose="for the expired-certificate test (03: 403)" ;;
    not-yet-valid-client) purpose="for the not-yet-valid test (03: 403)" ;;
    self-signed-client) purpose="no CA vouches for it (03: 403)" ;;
    server-eku-client) purpose="serverAuth only, the wrong purpose (03: 403)" ;;
    leaf-signed-client) purpose="its issuer is a leaf, not a CA (03: 403)" ;;
    intermediate-ca) purpose="an intermediate CA under ours" ;;
    intermediate-client) purpose="sends its chain through the intermediate (03: 200)" ;;
    revoked-client) purpose="listed in ca.crl (03 with --crl: 403)" ;;
    ecdsa-client) purpose="a P-256 key (03: 200)" ;;
    ca.crl) purpose="our CA's revocation list: revoked-client" ;;
    intermediate-ca.crl) purpose="the intermediate's revocation list: empty" ;;
    ca-revokes-intermediate.crl) purpose="our CA's later list: revoked-client and intermediate-ca" ;;
    all.crl) purpose="ca.crl + intermediate-ca.crl: every CA's CRL (03 --crl)" ;;
    all-intermediate-revoked.crl) purpose="ca-revokes-intermediate.crl + intermediate-ca.crl (03 --crl: intermediate-client 403)" ;;
    wrong-name-server) purpose="names www.example.com only (04 refuses it for localhost)" ;;
    dns-only-server) purpose="no IP address in its SAN (04 refuses it for 127.0.0.1)" ;;
    expired-server) purpose="for the expired-server test (04 refuses it)" ;;
    other-ca-server) purpose="another CA's server (04 refuses it)" ;;
    cn-only-server) purpose="CN=localhost and no SAN (04 refuses it)" ;;
    ecdsa-server) purpose="a P-256 key (04 accepts it)" ;;
    *) purpose="see certs/README.md" ;;
  esac
  if [[ $name != *.crl && -f $name.crt ]]; then
    dates=$(openssl x509 -in "$name.crt" -noout -startdate -enddate -dateopt iso_8601 2>/dev/null |
            sed -n 's/^not[A-Za-z]*=\([0-9-]*\).*/\1/p' | paste -sd ' ' -) || dates=""
    issuer=$(openssl x509 -in "$name.crt" -noout -issuer -nameopt sep_multiline 2>/dev/null |
             sed -n 's/^ *CN=//p' | head -n 1) || issuer=""
  fi
  line="made $name:"
  [[ -z $dates ]] || line+=" valid ${dates% *} to ${dates#* },"
  [[ -z $issuer ]] || line+=" issued by $issuer;"
  echo "$line $purpose"
}

# begin_fixtures: the heading between the articles' recipe and the fixtures (--quiet-fixtures
# shows the recipe in full and the fixtures one line each).
begin_fixtures() {
  printf '\n== the fixtures: one certificate per way of being wrong, for the tests (certs/README.md)\n'
}

# --- Start ----------------------------------------------------------------------------------------
mkdir -p -- "$dir"
cd -- "$dir"
trap clean_up EXIT
mkdir -p .ca-db
chatter=.ca-db/output   # what the command run last printed; shown only if it failed
echo "# $(openssl version | cut -d' ' -f1-2): every command below runs inside this folder"
shell_words "$PWD"
echo "\$ cd $words"

# --- Part 1: the articles' recipe, step by step ----------------------------------------------------
# Every certificate is made the same way: a private key, a signing request (CSR) carrying the public
# key and a name, and a signature over it. `openssl x509 -req` copies only the name and key from the
# CSR and drops any extensions it asked for, so the extensions (is it a CA? what may the key do? for
# which names?) are handed to the signing command in an extension file with -extfile.

# Our certificate authority: the one certificate chapters 03 and 04 trust. Its key is RSA-3072, where
# the certificates it signs make do with 2048 bits: it signs for ten years, past 2030, and NIST
# accepts RSA-2048 (112-bit security) for new signatures only through 2030 (SP 800-57 Part 1
# Rev. 5, Table 4, applied by SP 800-131A Rev. 2); 3072 bits give the 128-bit security it asks for
# after that. NIST IR 8547 (initial public draft, Nov. 2024) goes further: RSA-2048 deprecated
# after 2030, all RSA, 3072 bits included, disallowed after 2035, so a root made today needs a
# successor before then.
if needs ca; then
  run_keygen "a 3072-bit RSA private key for our CA (it signs for 10 years); whoever holds it can issue certificates" \
    openssl genrsa -out ca.key 3072
  run "a signing request (CSR) for the CA; -subj gives the name instead of asking for it" \
    openssl req -new -key ca.key -subj "/CN=mtls-by-example CA" -out ca.csr
  write_file ca.ext "ca.ext: mark it a CA that may sign certificates and CRLs (x509 -req drops the CSR's extensions)" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  run "the CA signs its own request with its own key: a self-signed root, valid 10 years" \
    openssl x509 -req -in ca.csr -signkey ca.key -days 3650 -sha256 -extfile ca.ext -out ca.crt
fi

# The server's certificate: names it answers to (SAN) and the serverAuth purpose.
if needs server ca; then
  run_keygen "a private key for the server" \
    openssl genrsa -out server.key 2048
  run "the server's CSR; clients check the SAN below, not this CN" \
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
  write_file server.ext "server.ext: the names this server answers to and its purpose (x509 -req drops the CSR's extensions)" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  run "our CA signs the server's request (OpenSSL 3 picks a random serial number)" \
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 825 -sha256 -extfile server.ext -out server.crt
fi

# The client's certificate: client.ext gives it the clientAuth purpose.
if needs client ca; then
  run_keygen "a private key for the client" \
    openssl genrsa -out client.key 2048
  run "the client's CSR" \
    openssl req -new -key client.key -subj "/CN=client" -out client.csr
  write_file client.ext "client.ext: this certificate proves a client's identity (x509 -req drops the CSR's extensions)" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  run "our CA signs the client's request" \
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -days 825 -sha256 -extfile client.ext -out client.crt
fi

# --- Part 2: the same recipe for a CA we do not trust ---------------------------------------------
# Chapter 02 accepts other-client (the pitfall: any certificate will do); chapter 03 answers 403.
make_ca    other-ca     "Other CA"
issue_leaf other-client other-ca clientAuth

# --- Chapter 03: clients it must reject (and two it must accept) ----------------------------------
begin_fixtures
issue_leaf expired-client       ca       clientAuth valid=-730:-365   # ended a year ago
issue_leaf not-yet-valid-client ca       clientAuth valid=365:730     # starts in a year
issue_leaf self-signed-client   self     clientAuth                   # no CA vouches for it
issue_leaf server-eku-client    ca       serverAuth                   # wrong purpose
issue_leaf leaf-signed-client   client   clientAuth chain             # "issued" by a CA:FALSE leaf
make_ca    intermediate-ca      "mtls-by-example Intermediate CA" ca
issue_leaf intermediate-client  intermediate-ca clientAuth chain      # accepted: sends its chain
issue_leaf revoked-client       ca       clientAuth                   # listed in ca.crl
issue_leaf ecdsa-client         ca       clientAuth key=ec            # accepted: P-256 key
publish_crl ca ca.crl revoked-client
publish_crl intermediate-ca intermediate-ca.crl   # revokes nothing; with --crl, each CA in a chain needs its CRL
publish_crl ca ca-revokes-intermediate.crl revoked-client intermediate-ca   # a later CRL from our root
combine_crls all.crl ca.crl intermediate-ca.crl
combine_crls all-intermediate-revoked.crl ca-revokes-intermediate.crl intermediate-ca.crl

# --- Chapter 04: servers the client must refuse (and one it must accept) --------------------------
server_names="DNS:localhost, IP:127.0.0.1, IP:::1"
issue_leaf wrong-name-server ca       serverAuth san=DNS:www.example.com
issue_leaf dns-only-server   ca       serverAuth san=DNS:localhost
issue_leaf expired-server    ca       serverAuth "san=$server_names" valid=-730:-365
issue_leaf other-ca-server   other-ca serverAuth "san=$server_names"
issue_leaf cn-only-server    ca       serverAuth cn=localhost
issue_leaf ecdsa-server      ca       serverAuth "san=$server_names" key=ec   # accepted

# --- PKCS#12: the key, the certificate and our CA in one file, for browsers and other stacks -------
# Browsers, Java's KeyStore, .NET's X509Certificate2, Node's `pfx` and the macOS Keychain import a
# client identity as one password-protected PKCS#12 file (.p12, also called .pfx), not as PEM files.
P12_PASSWORD=mtls-by-example   # a test password, printed below; never use it for a real key
pkcs12_password_given=0

# export_pkcs12 NAME FILE [legacy]: FILE holds NAME.key, NAME.crt and the issuer's certificate
# (its chain), protected by P12_PASSWORD. Made again when missing or when NAME is new in this run.
export_pkcs12() {
  local name=$1 file=$2 issuer=$3 legacy=${4:-} why
  if ((force == 0)) && [[ -f $file ]] && ! made_now "$name" >/dev/null; then
    echo "kept $file"
    return 0
  fi
  printf '\n== %s\n' "$file"
  if ((pkcs12_password_given == 0)); then
    run "the password goes to openssl in the environment (env:): a command line, pass: included, is visible to every user of the machine (ps)" \
      export P12_PASSWORD="$P12_PASSWORD"
    pkcs12_password_given=1
  fi
  if [[ -n $legacy ]]; then
    why="the same with -legacy: RC2/3DES encryption and a SHA-1 MAC, for macOS Keychain, older Windows and older Java"
  else
    why="$name's key, certificate and $issuer.crt in one file; OpenSSL 3's default: AES-256 encryption, a SHA-256 MAC"
  fi
  run_keygen "$why" \
    openssl pkcs12 -export -inkey "$name.key" -in "$name.crt" -certfile "$issuer.crt" -name "$name" \
      ${legacy:+-legacy} -passout env:P12_PASSWORD -out "$file"
}
export_pkcs12 client       client.p12        ca
export_pkcs12 client       client-legacy.p12 ca legacy
export_pkcs12 other-client other-client.p12  other-ca
echo "The .p12 files' password is: $P12_PASSWORD"

echo
echo "Done: the keys, certificates, .p12 files and CRLs are in $PWD (certs/README.md says what each is for)."
