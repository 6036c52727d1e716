#!/usr/bin/env bash
# The chapters stay lessons: each program is one C file that builds alone (cleanly, and without
# deprecated OpenSSL calls), and each server chapter is the previous one plus one idea: a small
# diff, the same scaffolding in the same order, no `#if CHAPTER` switches.
# Run alone with `tests/run.sh test_lessons` (needs a C compiler, not `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SERVERS=(01-tls-server/server.c 02-mtls-server/server.c 03-custom-ca-validation/server.c)
# The bounds on changed lines (diff A B | grep -c '^[<>]'), the aims of issue 11. Chapter 03 holds
# issue 12's lesson too (revocation at every level, 403 before the request, no trust without a
# certificate, a resumed session's expiry checked again) within the same 150.
MAX_DIFF_01_02=60
MAX_DIFF_02_03=150

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
    SOURCES=("${SERVERS[@]}")
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

# changed_lines A B: the number of lines diff shows as removed or added.
changed_lines() { diff "$ROOT/$1" "$ROOT/$2" | grep -c '^[<>]'; }

test_the_chapter_diffs_stay_small() {
    local lines_02 lines_03
    lines_02=$(changed_lines "${SERVERS[0]}" "${SERVERS[1]}")
    lines_03=$(changed_lines "${SERVERS[1]}" "${SERVERS[2]}")
    echo "changed lines: 01 -> 02: $lines_02 (at most $MAX_DIFF_01_02); 02 -> 03: $lines_03 (at most $MAX_DIFF_02_03)"
    assertTrue "diff 01 -> 02 changes $lines_02 lines, more than $MAX_DIFF_01_02" "((lines_02 <= MAX_DIFF_01_02))"
    assertTrue "diff 02 -> 03 changes $lines_03 lines, more than $MAX_DIFF_02_03" "((lines_03 <= MAX_DIFF_02_03))"
}

# part_2 FILE: the plumbing, from the PART 2 banner to the end of the file.
part_2() { sed -n '/PART 2: THE PLUMBING/,$p' "$ROOT/$1"; }

# Part 2 holds no lesson: it is the same in every chapter, except where a comment says that the
# chapter's lesson reaches into the plumbing (chapter 03's 403). Each hunk of the diff must say so.
test_part_2_the_plumbing_is_the_same_in_every_chapter() {
    local i unmarked
    for ((i = 1; i < ${#SERVERS[@]}; i++)); do
        assertNotNull "${SERVERS[i]} has no PART 2 banner" "$(part_2 "${SERVERS[i]}")" || return
        unmarked=$(diff <(part_2 "${SERVERS[i - 1]}") <(part_2 "${SERVERS[i]}") |
            awk '/^[0-9]/ { if (hunk != "" && hunk !~ /lesson reaches into the plumbing/) print hunk; hunk = "" }
                 { hunk = hunk $0 "\n" }
                 END { if (hunk != "" && hunk !~ /lesson reaches into the plumbing/) print hunk }')
        assertEquals "Part 2 of ${SERVERS[i]} differs from ${SERVERS[i - 1]}'s without a comment saying why" \
            '' "$unmarked"
    done
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
# guard, the one for a Linux-only socket option (TCP_DEFER_ACCEPT), and one for Linux's TCP_INFO
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
