#!/usr/bin/env bash
# The chapters stay lessons: each program is one C file that builds alone (cleanly, and without
# deprecated OpenSSL calls), and each server chapter is the previous one plus one idea: a small
# diff, the same scaffolding in the same order, no `#if CHAPTER` switches.
# Run alone with `tests/run.sh test_lessons` (needs a C compiler, not `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# The lessons, in order, and every server (chapter 05, the production server, is no lesson: it
# must build like the others, and its serve_connection() reads on one screen too).
SERVERS=(01-tls-server/server.c 02-mtls-server/server.c 03-custom-ca-validation/server.c)
ALL_SERVERS=("${SERVERS[@]}" 05-production-server/server.c)
# The bounds on changed lines (diff A B | grep -c '^[<>]'). 01 -> 02 is the CertificateRequest and
# reading the client's certificate for /whoami; 02 -> 03 is the trust store, CRLs at every level,
# the 403 gate, and a resumed client's chain checked again.
MAX_DIFF_01_02=80
MAX_DIFF_02_03=185
# Part 2, the plumbing, at most this many lines (from its banner to the end).
MAX_PART_2_LINES=600
# The life of a connection on one screen.
MAX_SERVE_CONNECTION_LINES=40

# Every way a chapter must build; NAME: compiler and flags, FILE and OUT filled in per program.
BUILDS=(
    'alone:cc FILE -o OUT -lssl -lcrypto -lpthread'
    'gcc-warnings:gcc -O2 -Wall -Wextra -Werror -c FILE -o OUT.o'
    'clang-warnings:clang -O2 -Wall -Wextra -Werror -c FILE -o OUT.o'
    'no-deprecated:cc -Wall -Werror -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -c FILE -o OUT.o'
)

# All the builds run at once (a few at a time) in oneTimeSetUp; the tests read their results:
# $BUILD_DIR/NAME.N.status (exit status) and NAME.N.log (what the compiler said) for SOURCES[N].
oneTimeSetUp() {
    SOURCES=("${ALL_SERVERS[@]}")
    [[ ! -f $ROOT/04-client/client.c ]] || SOURCES+=(04-client/client.c)
    BUILD_DIR=$SHUNIT_TMPDIR/builds
    mkdir -p "$BUILD_DIR"
    local build name command n words
    for build in "${BUILDS[@]}"; do
        name=${build%%:*} command=${build#*:}
        command -v "${command%% *}" >/dev/null || continue
        for n in "${!SOURCES[@]}"; do
            while (($(jobs -rp | wc -l) >= 4)); do wait -n; done
            read -r -a words <<<"${command//OUT/$BUILD_DIR/$name.$n}"
            words=("${words[@]/#FILE/${SOURCES[$n]}}")
            (
                cd "$ROOT" || exit
                echo "\$ ${words[*]}" >"$BUILD_DIR/$name.$n.log"
                timeout 120 "${words[@]}" >>"$BUILD_DIR/$name.$n.log" 2>&1
                echo $? >"$BUILD_DIR/$name.$n.status"
            ) &
        done
    done
    wait
}

# assert_builds NAME: every source built the NAME way.
assert_builds() {
    local n
    for n in "${!SOURCES[@]}"; do
        assertEquals "${SOURCES[$n]} ($1):
$(cat "$BUILD_DIR/$1.$n.log" 2>/dev/null)" 0 "$(cat "$BUILD_DIR/$1.$n.status" 2>/dev/null)"
    done
}

# --- Each program is one file that builds alone -------------------------------------------------

test_each_chapter_builds_alone_with_cc() {
    assert_builds alone
}

test_each_chapter_builds_without_warnings_under_gcc() {
    require_peer gcc 'the warnings check under gcc' || return 0
    assert_builds gcc-warnings
}

test_each_chapter_builds_without_warnings_under_clang() {
    require_peer clang 'the warnings check under clang' || return 0
    assert_builds clang-warnings
}

# With OPENSSL_NO_DEPRECATED the headers no longer declare deprecated functions, so calling one
# is an implicit declaration, an error under -Werror.
test_each_chapter_uses_no_deprecated_openssl_api() {
    assert_builds no-deprecated
}

# --- Each chapter is the previous one plus one idea ---------------------------------------------

# changed_lines A B: the number of lines diff shows as removed or added (relative to ROOT, or
# absolute).
changed_lines() {
    local a=$1 b=$2; [[ $a == /* ]] || a=$ROOT/$a; [[ $b == /* ]] || b=$ROOT/$b
    diff "$a" "$b" | grep -c '^[<>]'
}

test_the_chapter_diffs_stay_small() {
    local lines_02 lines_03
    lines_02=$(changed_lines "${SERVERS[0]}" "${SERVERS[1]}")
    lines_03=$(changed_lines "${SERVERS[1]}" "${SERVERS[2]}")
    echo "changed lines: 01 -> 02: $lines_02 (at most $MAX_DIFF_01_02); 02 -> 03: $lines_03 (at most $MAX_DIFF_02_03)"
    assertTrue "diff 01 -> 02 changes $lines_02 lines, more than $MAX_DIFF_01_02" "((lines_02 <= MAX_DIFF_01_02))"
    assertTrue "diff 02 -> 03 changes $lines_03 lines, more than $MAX_DIFF_02_03" "((lines_03 <= MAX_DIFF_02_03))"
}

# part_2 FILE: the plumbing, from the PART 2 banner to the end of the file (FILE relative to ROOT,
# or absolute).
part_2() { local f=$1; [[ $f == /* ]] || f=$ROOT/$f; sed -n '/PART 2: THE PLUMBING/,$p' "$f"; }

# part_2_differences A B: the diff between the two Part 2s; nothing when they are the same.
part_2_differences() { diff <(part_2 "$1") <(part_2 "$2"); }

# part_2_too_long FILE: says so when FILE's Part 2 is missing or over MAX_PART_2_LINES lines.
part_2_too_long() {
    local lines
    lines=$(part_2 "$1" | wc -l)
    ((lines > 0)) || { echo "$1 has no PART 2 banner"; return; }
    ((lines <= MAX_PART_2_LINES)) || echo "$1: Part 2 is $lines lines, more than $MAX_PART_2_LINES"
}

# openssl_in_part_2 FILE: the lines of Part 2 that name OpenSSL, but for SSL_CTX_free().
openssl_in_part_2() {
    part_2 "$1" | sed 's/SSL_CTX_free(//g' | grep -nE '(SSL_|X509|ERR_|EVP_|PEM_|BIO_|ASN1_|OSSL_)'
}

# client_certificates_or_crls FILE: the lines that ask for, read or check a client certificate,
# or read a CRL (chapter 01 must have none: it teaches the server's side only).
client_certificates_or_crls() {
    local f=$1; [[ $f == /* ]] || f=$ROOT/$f
    grep -nE 'SSL_VERIFY_PEER|SSL_CTX_set_verify|peer_cert|verify_result|client_CA|X509_STORE|crl|CRL' "$f" |
        grep -v 'CRLF'   # a line ending, not a revocation list
}

# function_too_long FILE NAME MAX: says so when the function NAME in FILE is longer than MAX lines,
# counted from the line with its name to its closing brace at column 0.
function_too_long() {
    local f=$1; [[ $f == /* ]] || f=$ROOT/$f
    awk -v name="$2" -v max="$3" -v file="$1" '
        !start && $0 ~ "^[a-z].*[ *]" name "\\(" && $0 !~ /;[ \t]*$/ { start = FNR; next }
        start && /^\}/ { found = 1; if (FNR - start + 1 > max) printf "%s: %s() is %d lines, more than %d\n", file, name, FNR - start + 1, max; exit }
        END { if (!found) printf "%s: no %s() found\n", file, name }' "$f"
}

# Part 2 holds no lesson: it is byte for byte the same in every lesson, with no exception.
test_part_2_the_plumbing_is_the_same_in_every_lesson() {
    local i
    for ((i = 1; i < ${#SERVERS[@]}; i++)); do
        assertEquals "Part 2 of ${SERVERS[i]} differs from ${SERVERS[i - 1]}'s" \
            '' "$(part_2_differences "${SERVERS[i - 1]}" "${SERVERS[i]}")"
    done
}

test_part_2_fits_in_600_lines() {
    local file
    for file in "${SERVERS[@]}"; do assertEquals '' "$(part_2_too_long "$file")"; done
}

# Every OpenSSL call lives in Part 1 of the chapter that teaches it; Part 2 frees the context at
# the end of main(), and that is all.
test_part_2_names_no_openssl_but_the_last_ssl_ctx_free() {
    local file
    for file in "${SERVERS[@]}"; do
        assertEquals "$file: OpenSSL after the PART 2 banner" '' "$(openssl_in_part_2 "$file")"
    done
}

test_chapter_01_holds_no_client_certificate_and_no_crl() {
    assertEquals 'chapter 01 asks for, reads or checks a client certificate or a CRL' \
        '' "$(client_certificates_or_crls "${SERVERS[0]}")"
}

test_serve_connection_fits_on_one_screen() {
    local file
    for file in "${ALL_SERVERS[@]}"; do
        assertEquals '' "$(function_too_long "$file" serve_connection "$MAX_SERVE_CONNECTION_LINES")"
    done
}

# Each rule above must be able to fail: on scratch copies that break it, each check speaks up.
test_each_rule_fails_on_a_copy_that_breaks_it() {
    local dir=$SHUNIT_TMPDIR/broken i
    mkdir -p "$dir"
    # Part 2 changed in one lesson only.
    sed 's/"Hello World!"/"Hello!"/' "$ROOT/${SERVERS[1]}" >"$dir/part2-changed.c"
    assertNotNull 'a changed Part 2 is noticed' "$(part_2_differences "${SERVERS[0]}" "$dir/part2-changed.c")"
    # Part 2 grown past the bound.
    { cat "$ROOT/${SERVERS[0]}"; for ((i = 0; i < MAX_PART_2_LINES; i++)); do echo "/* padding */"; done; } >"$dir/long.c"
    assertNotNull 'a Part 2 over the bound is noticed' "$(part_2_too_long "$dir/long.c")"
    # An OpenSSL call moved into Part 2.
    sed 's/^static int parse_number(const char \*text, int min, int max, int \*number)$/&\n{ ERR_clear_error(); }\nstatic int parse_number_(void)/' \
        "$ROOT/${SERVERS[0]}" >"$dir/openssl-in-part-2.c"
    assertNotNull 'an OpenSSL call in Part 2 is noticed' "$(openssl_in_part_2 "$dir/openssl-in-part-2.c")"
    # A client certificate asked for in chapter 01.
    sed 's/SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);/&\n    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);/' \
        "$ROOT/${SERVERS[0]}" >"$dir/asks-for-a-certificate.c"
    assertNotNull 'chapter 01 asking for a certificate is noticed' "$(client_certificates_or_crls "$dir/asks-for-a-certificate.c")"
    # serve_connection() grown past a screen.
    awk '{ print } /^static void serve_connection\(/ { getline; print; for (i = 0; i < 40; i++) print "    /* padding */" }' \
        "$ROOT/${SERVERS[0]}" >"$dir/long-serve-connection.c"
    assertNotNull 'a long serve_connection() is noticed' \
        "$(function_too_long "$dir/long-serve-connection.c" serve_connection "$MAX_SERVE_CONNECTION_LINES")"
    # The diff bound: chapter 02 grown by one line too many.
    { cat "$ROOT/${SERVERS[1]}"
      for ((i = $(changed_lines "${SERVERS[0]}" "${SERVERS[1]}"); i < MAX_DIFF_01_02 + 1; i++)); do echo; done
    } >"$dir/big-02.c"
    assertTrue 'a diff one line over the bound is noticed' \
        "(($(changed_lines "${SERVERS[0]}" "$dir/big-02.c") > MAX_DIFF_01_02))"
}

# section_titles FILE: the scaffolding's section headings, in order, each up to its first colon:
#   /* ------...
#    * Accept loop: a fixed pool of workers...      ->  "Accept loop"
section_titles() {
    awk '/^\/\* -------------------/ { heading = 1; next }
         heading && /^ \* / { sub(/^ \* /, ""); sub(/:.*/, ""); print }
         { heading = 0 }' "$ROOT/$1"
}

# A later chapter may add a section, but it keeps every earlier one, in the same order.
test_each_chapter_keeps_the_sections_of_the_previous_one_in_order() {
    local i earlier later missing
    for ((i = 1; i < ${#SERVERS[@]}; i++)); do
        earlier=$(section_titles "${SERVERS[i - 1]}")
        later=$(section_titles "${SERVERS[i]}")
        assertNotNull "${SERVERS[i - 1]} has no /* ---- */ section headings" "$earlier" || return
        # Is `earlier` a subsequence of `later`? Prints the first heading that is not.
        missing=$(awk 'NR == FNR { want[++n] = $0; next }
                       k < n && $0 == want[k + 1] { k++ }
                       END { if (k < n) print want[k + 1] }' <(echo "$earlier") <(echo "$later"))
        assertEquals "${SERVERS[i]} lost or moved the section '$missing' of ${SERVERS[i - 1]}; its sections:
$later
" '' "$missing"
    done
}

# A file holds its own chapter and nothing later: no preprocessor switches, except an include
# guard, one for a Linux-only socket option (TCP_DEFER_ACCEPT, used by no chapter today), and one for Linux's TCP_INFO
# (__linux__: other systems define TCP_INFO with other fields).
test_no_chapter_switches_in_the_sources() {
    local file found=''
    for file in "${SERVERS[@]}" 04-client/client.c; do
        [[ -f $ROOT/$file ]] || continue
        found+=$(awk -v file="$file" '
            /^[ \t]*#[ \t]*(if|ifdef|ifndef|elif)([ \t(]|$)/ {
                line = $0; number = FNR
                if (line ~ /^[ \t]*#[ \t]*ifdef[ \t]+(TCP_DEFER_ACCEPT|__linux__)[ \t]*$/) next
                if (line ~ /^[ \t]*#[ \t]*ifndef[ \t]+[A-Z0-9_]+_H_?[ \t]*$/) next
                print file ":" number ": " line
            }' "$ROOT/$file")
    done
    assertEquals 'preprocessor switches (a chapter must not carry code for another)' '' "$found"
}

# Part 1 of the client, its TLS lesson, is read in one sitting: no function there (before the PART 2
# banner) is longer than 40 lines, counted from the line with its name to its closing brace.
# LESSON_CLIENT_SOURCE=FILE checks another file (a copy with a long function must fail).
test_client_part_1_functions_fit_in_40_lines() {
    local file=${LESSON_CLIENT_SOURCE:-$ROOT/04-client/client.c} long
    [[ -f $file ]] || { skip_test "no $file"; return; }
    assertNotNull "$file has no PART 2 banner" "$(grep -n 'PART 2: THE PLUMBING' "$file")" || return
    # A definition starts at column 0 with its type and name, "static int fetch(...": its body
    # opens with a { and closes with a } at column 0. (A prototype's { never comes.)
    long=$(awk '/PART 2: THE PLUMBING/ { exit }
                !body && /^[A-Za-z_][^#;]*[A-Za-z_0-9]\(/ && !/;[ \t]*$/ {
                    name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name); start = FNR; next }
                start && /^\{/ { body = 1; next }
                body && /^\}/ {
                    if (FNR - start + 1 > 40) printf "%s() at line %d: %d lines\n", name, start, FNR - start + 1
                    body = 0; start = 0 }' "$file")
    assertEquals "functions of Part 1 of $file over 40 lines" '' "$long"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
