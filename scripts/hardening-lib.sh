# shellcheck shell=bash
# scripts/hardening-lib.sh: what scripts/sanitize.sh, valgrind.sh, fuzz.sh and analyze.sh share.
# Sourced, not run. After sourcing:
#   ROOT              the repository root (the scripts work from any directory)
#   PROGRAMS          the chapter programs that exist, e.g. 01-tls-server/server (no .c)
#   OPENSSL_CFLAGS, OPENSSL_LIBS   as the Makefile finds them (pkg-config, else -lssl -lcrypto)
#   SCRATCH           a temporary directory, removed when the script exits
# and the functions below.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARDENING_NAME=$(basename "$0" .sh)

# note TEXT...: one line of progress on stdout, prefixed with the script's name.
note() {
    printf '%s: %s\n' "$HARDENING_NAME" "$*"
}

# die TEXT...: says why on stderr and exits 1.
die() {
    printf '%s: %s\n' "$HARDENING_NAME" "$*" >&2
    exit 1
}

# need_tool NAME [PACKAGE]: exits with a message naming the package when NAME is not installed.
need_tool() {
    command -v "$1" >/dev/null 2>&1 ||
        die "$1 is not installed (Debian: apt-get install ${2:-$1})"
}

# The programs, in the Makefile's order. The client (chapter 04) may not be written yet: then it is
# skipped, with a note, rather than failing the target.
PROGRAMS=()
for _hl_source in "$ROOT"/0*/server.c "$ROOT"/0*/client.c; do
    [[ -f $_hl_source ]] || continue
    _hl_source=${_hl_source#"$ROOT"/}
    PROGRAMS+=("${_hl_source%.c}")
done
unset _hl_source
[[ ${#PROGRAMS[@]} -gt 0 ]] || die "no chapter programs found under $ROOT"

# has_program PATH: true when PATH (e.g. 04-client/client) is among PROGRAMS; otherwise says that
# it is skipped.
has_program() {
    local program
    for program in "${PROGRAMS[@]}"; do
        [[ $program != "$1" ]] || return 0
    done
    note "skipping $1: $1.c does not exist yet"
    return 1
}

# servers: prints the server programs of PROGRAMS, one a line.
servers() {
    local program
    for program in "${PROGRAMS[@]}"; do
        [[ $program != */server ]] || echo "$program"
    done
}

OPENSSL_CFLAGS=$(pkg-config --cflags openssl 2>/dev/null || true)
OPENSSL_LIBS=$(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

# compile CC OUTPUT SOURCE CFLAGS...: compiles one C file that uses OpenSSL into the program OUTPUT.
compile() {
    local cc=$1 output=$2 source=$3
    shift 3
    mkdir -p "$(dirname "$output")"
    # Word splitting of the pkg-config output is intended: it holds several flags.
    # shellcheck disable=SC2086
    "$cc" "$@" $OPENSSL_CFLAGS -o "$output" "$source" $OPENSSL_LIBS -lpthread
}

# build_program CC OUT_DIR PROGRAM CFLAGS...: compiles ROOT/PROGRAM.c into OUT_DIR/PROGRAM.
build_program() {
    local cc=$1 out_dir=$2 program=$3
    shift 3
    compile "$cc" "$out_dir/$program" "$ROOT/$program.c" "$@"
}

# On exit (also after Ctrl-C or SIGTERM): the script's own on_exit function when it defines one
# (to stop what it started), then SCRATCH is removed.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/mtls-$HARDENING_NAME.XXXXXX")
_hardening_exit() {
    if declare -F on_exit >/dev/null; then on_exit || true; fi
    rm -rf "$SCRATCH"
}
trap _hardening_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
