#!/usr/bin/env bash
# scripts/mutants.sh [--check] [NAME...]  (make mutants): proves that the tests can fail. Each
# mutant of tests/mutants.list is a deliberate breakage of one behaviour that matters (a check
# of the peer's certificate switched off, a limit raised...). For each one, this script copies
# the source file, breaks the copy with the mutant's substitution, builds it with -Wall -Wextra
# -Werror into build/mutants/NAME/ (next to the unchanged programs, built into
# build/mutants/original/), and runs the tests the mutant names on that build (BUILD_DIR, as
# scripts/sanitize.sh does). A mutant of a shell script (scripts/cert-doctor.sh, exercises/check.sh...)
# builds nothing: its tests run from a copy of the repository, build/mutants/NAME/tree/, that holds
# the broken script, with the unchanged programs. One line per mutant:
#
#   killed   NAME  by SUITE:TEST          a test failed: it noticed
#   SURVIVED NAME  (ran SUITE:TESTS)      every test passed: nothing pins that behaviour
#   ERROR    NAME  WHY                    the mutant no longer applies (its substitution matches
#                                         zero or several times), does not compile, or its tests
#                                         do not exist or did not run
#
# Exits 1 when any mutant survived or is in error. Before the mutants, the same tests run once on
# the unchanged programs: a test that fails there would "kill" every mutant, so that is an error.
#
#   --check    only checks the list (every substitution matches exactly once, every test
#              exists), without building or running anything; tests/test_mutants_list.sh runs it.
#   NAME...    only these mutants.
#
# Environment: CC (default cc), MUTANTS_LIST (default tests/mutants.list), MUTANTS_BUILD_DIR
# (default build/mutants), MUTANT_JOBS (mutants run at the same time, default 2: the tests mostly
# wait on sockets), MUTANT_TIMEOUT (seconds per suite run, default 300). What each mutant ran is
# kept: build/mutants/NAME/ holds the broken source, the build log and the tests' output;
# `diff -u FILE build/mutants/NAME/FILE` shows the mutant.
set -euo pipefail
# shellcheck source=scripts/hardening-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/hardening-lib.sh"

list=${MUTANTS_LIST:-$ROOT/tests/mutants.list}
jobs=${MUTANT_JOBS:-2}
check_only=0
if [[ ${1:-} == --check ]]; then check_only=1; shift; fi
[[ -f $list ]] || die "no mutant list: $list"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "MUTANT_JOBS must be a number of mutants, 1 or more (got '$jobs')"
need_tool perl

# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------

# Parallel arrays, one entry per mutant. TESTS holds one "SUITE TEST..." line per tests: line.
NAMES=() FILES=() SUBSTS=() TESTS=() WHYS=()
list_errors=()

# list_error TEXT: notes a mistake in the list itself (reported before anything runs).
list_error() { list_errors+=("${list#"$ROOT"/}: $*"); }

parse_list() {
    local line key value number=0 n=-1
    while IFS= read -r line || [[ -n $line ]]; do
        number=$((number + 1))
        [[ ! $line =~ ^[[:space:]]*(#|$) ]] || continue
        if [[ ! $line =~ ^([a-z]+):[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]]; then
            list_error "line $number is not 'key: value': $line"
            continue
        fi
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        if [[ $key == name ]]; then
            n=$((n + 1))
            NAMES[n]=$value FILES[n]='' SUBSTS[n]='' TESTS[n]='' WHYS[n]=''
            continue
        fi
        if ((n < 0)); then list_error "line $number comes before the first name:"; continue; fi
        case $key in
            file) FILES[n]=$value ;;
            subst) SUBSTS[n]=$value ;;
            why) WHYS[n]=$value ;;
            tests) TESTS[n]+=$value$'\n' ;;
            *) list_error "line $number: unknown key '$key'" ;;
        esac
    done <"$list"
}

# apply_mutant SUBST IN OUT: writes IN, changed by the Perl substitution SUBST, to OUT. Fails,
# saying why on stderr, unless SUBST matches exactly once: a mutant that matches nothing would
# leave the program as it is and "survive" for the wrong reason, and one that matches twice
# breaks more than it says.
apply_mutant() {
    perl -e '
        my ($expr, $in, $out) = @ARGV;
        $expr =~ m{\As/.*/([a-z]*)\z}s or die "not a substitution s/PATTERN/REPLACEMENT/\n";
        $1 !~ /g/ or die "the substitution must not have the /g flag\n";
        open my $source, "<", $in or die "cannot read $in: $!\n";
        my $text = do { local $/; <$source> };
        close $source;
        # /g makes the substitution return how many times it matched.
        my $count = eval "\$text =~ ${expr}g";
        die "the substitution does not compile: $@" if $@;
        $count ||= 0;
        die "the substitution matches $count times in $in, not once\n" if $count != 1;
        open my $mutant, ">", $out or die "cannot write $out: $!\n";
        print $mutant $text or die "cannot write $out: $!\n";
        close $mutant or die "cannot write $out: $!\n";
    ' "$1" "$2" "$3"
}

# suite_has_test SUITE TEST: true when tests/SUITE.sh defines the function TEST, or runs another
# suite that does (tests/test_05_as_chapter_03.sh execs chapter 03's). (shunit2 runs a test it is
# given by name even when no such function exists, and counts it as passed.)
suite_has_test() {
    local file=$ROOT/tests/$1.sh other
    other=$(sed -n 's|^.*exec bash "$(dirname "$0")/\(test_[a-z0-9_]*\)\.sh".*$|\1|p' "$file")
    [[ -z $other ]] || file=$ROOT/tests/$other.sh
    grep -Eq "^[[:space:]]*(function[[:space:]]+)?$2[[:space:]]*\(\)" "$file"
}

# check_mutant INDEX OUT_DIR: checks mutant INDEX and writes its broken source under OUT_DIR.
# Prints why not, and fails, when it is in error.
check_mutant() {
    local i=$1 out=$2 file=${FILES[$1]} line suite tests test errors=()
    [[ ${NAMES[i]} =~ ^[a-z0-9][a-z0-9-]*$ ]] || errors+=("the name is not lower-case letters, digits and dashes")
    [[ -n ${SUBSTS[i]} ]] || errors+=("no subst:")
    [[ -n ${WHYS[i]} ]] || errors+=("no why:")
    [[ -n ${TESTS[i]} ]] || errors+=("no tests:")
    if [[ -z $file ]]; then
        errors+=("no file:")
    elif [[ ! -f $ROOT/$file ]]; then
        errors+=("no such file: $file")
    elif [[ -n ${SUBSTS[i]} ]]; then
        mkdir -p "$out/$(dirname "$file")"
        line=$(apply_mutant "${SUBSTS[i]}" "$ROOT/$file" "$out/$file" 2>&1) || errors+=("${line//$ROOT\//}")
    fi
    while read -r suite tests; do
        [[ -n $suite ]] || continue
        if [[ ! -f $ROOT/tests/$suite.sh ]]; then errors+=("no such suite: tests/$suite.sh"); continue; fi
        [[ -n $tests ]] || errors+=("tests: $suite names no test")
        for test in $tests; do
            suite_has_test "$suite" "$test" || errors+=("no test $test in tests/$suite.sh")
        done
    done <<<"${TESTS[i]}"
    ((${#errors[@]} == 0)) && return 0
    join '; ' "${errors[@]}"
    echo
    return 1
}

# ---------------------------------------------------------------------------------------------
# Running the tests
# ---------------------------------------------------------------------------------------------

# run_tests BUILD_DIR LOG SUITE TEST...: runs those tests of tests/SUITE.sh on the programs of
# BUILD_DIR, output to LOG, from the repository (or from the copy $tests_root when set). Prints one
# line per test: "failed TEST", "skipped TEST" or "passed TEST", and "missing TEST" for a test that
# did not run (the suite stopped or hung).
run_tests() {
    local dir=$1 log=$2 suite=$3
    shift 3
    (cd "${tests_root:-$ROOT}" && BUILD_DIR=$dir SHUNIT_COLOR=none \
        timeout -k 10 "${MUTANT_TIMEOUT:-300}" bash "tests/$suite.sh" -- "$@") </dev/null >"$log" 2>&1 || true
    sed 's/\x1b\[[0-9;]*m//g' "$log" | awk -v wanted="$*" '
        BEGIN { n = split(wanted, tests, " ") }
        /^test[A-Za-z0-9_-]*$/ { current = $0; ran[current] = 1; next }
        /^ASSERT:|^shunit2:(ERROR|FATAL)/ { failed[current] = 1 }
        /^SKIPPED: / { skipped[current] = 1 }
        /^Ran [0-9]+ tests?\.$/ { finished = 1 }
        END {
            for (i = 1; i <= n; i++) {
                t = tests[i]
                if (t in failed) print "failed " t
                else if (!(t in ran) || !finished) print "missing " t
                else if (t in skipped) print "skipped " t
                else print "passed " t
            }
        }'
}

# build_into DIR PROGRAM SOURCE: compiles SOURCE as the Makefile does, with -Werror, into
# DIR/PROGRAM; the compiler's output goes to DIR/build.log.
build_into() {
    compile "${CC:-cc}" "$1/$2" "$3" -O2 -g -Wall -Wextra -Werror >>"$1/build.log" 2>&1
}

# run_mutant INDEX: builds mutant INDEX and runs its tests; prints its result line.
run_mutant() {
    local i=$1 name=${NAMES[$1]} file=${FILES[$1]} dir=$work/${NAMES[$1]} program suite tests
    local results outcome test killers=() ran=() skipped=() missing=() why other
    local tests_root="" programs_dir=$dir   # run_tests reads tests_root
    program=${file%.c}
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! why=$(check_mutant "$i" "$dir"); then
        result_line ERROR "$name" "$why"
        return
    fi
    if [[ $file != *.c ]]; then
        # A script: the tests run from a copy of the repository holding it, on the unchanged programs.
        tests_root=$dir/tree programs_dir=$work/original
        mkdir -p "$tests_root"
        if ! (tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$tests_root" -xf -) ||
           ! cp "$dir/$file" "$tests_root/$file"; then
            result_line ERROR "$name" "could not copy the repository into ${tests_root#"$ROOT"/}"
            return
        fi
    elif ! build_into "$dir" "$program" "$dir/$file"; then
        result_line ERROR "$name" "does not compile (${dir#"$ROOT"/}/build.log): $(grep -m 1 'error' "$dir/build.log")"
        return
    else
        for other in "${PROGRAMS[@]}"; do
            [[ $other == "$program" ]] && continue
            mkdir -p "$dir/$(dirname "$other")"
            ln -s "$work/original/$other" "$dir/$other"
        done
    fi
    while read -r suite tests; do
        [[ -n $suite ]] || continue
        # shellcheck disable=SC2086  # word splitting of the test names is intended
        results=$(run_tests "$programs_dir" "$dir/$suite.log" "$suite" $tests)
        ran+=("$suite:${tests// /,}")
        # One SUITE:TEST,TEST... entry per suite.
        for outcome in failed skipped missing; do
            test=$(awk -v outcome="$outcome" '$1 == outcome { printf "%s%s", sep, $2; sep = "," }' <<<"$results")
            [[ -n $test ]] || continue
            case $outcome in
                failed) killers+=("$suite:$test") ;;
                skipped) skipped+=("$suite:$test") ;;
                missing) missing+=("$suite:$test") ;;
            esac
        done
    done <<<"${TESTS[i]}"
    if ((${#killers[@]} > 0)); then
        result_line killed "$name" "by $(join , "${killers[@]}")"
    elif ((${#missing[@]} > 0)); then
        result_line ERROR "$name" "the suite stopped (crashed, or hung for ${MUTANT_TIMEOUT:-300} s) before these tests ended (${dir#"$ROOT"/}/): $(join , "${missing[@]}")"
    else
        why="(ran $(join ' ' "${ran[@]}"))"
        ((${#skipped[@]} == 0)) || why+=" (skipped: $(join , "${skipped[@]}"))"
        result_line SURVIVED "$name" "$why"
    fi
}

# join SEPARATOR WORD...: prints the WORDs joined by SEPARATOR.
join() {
    local separator=$1 out=$2 word
    shift 2
    for word in "$@"; do out+=$separator$word; done
    printf '%s' "$out"
}

# result_line OUTCOME NAME TEXT: the one line per mutant.
result_line() {
    printf '%-8s %-*s %s\n' "$1" "$name_width" "$2" "$3"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

parse_list
selected=()
if (($# == 0)); then
    selected=("${!NAMES[@]}")
else
    for wanted in "$@"; do
        found=0
        for i in "${!NAMES[@]}"; do
            if [[ ${NAMES[i]} == "$wanted" ]]; then selected+=("$i"); found=1; fi
        done
        ((found)) || list_error "no mutant named '$wanted'"
    done
fi
declare -A seen=()
for i in "${!NAMES[@]}"; do
    [[ -z ${seen[${NAMES[i]}]:-} ]] || list_error "two mutants are named ${NAMES[i]}"
    seen[${NAMES[i]}]=1
done
((${#NAMES[@]} > 0)) || list_error "no mutants"
if ((${#list_errors[@]} > 0)); then
    printf '%s\n' "${list_errors[@]}" >&2
    exit 1
fi
name_width=0
for i in "${selected[@]}"; do
    ((${#NAMES[i]} <= name_width)) || name_width=${#NAMES[i]}
done

if ((check_only)); then
    in_error=0
    for i in "${selected[@]}"; do
        if ! why=$(check_mutant "$i" "$SCRATCH/${NAMES[i]}"); then
            result_line ERROR "${NAMES[i]}" "$why"
            in_error=$((in_error + 1))
        fi
    done
    note "${#selected[@]} mutants checked, $in_error in error"
    ((in_error == 0))
    exit
fi

started=$SECONDS
work=${MUTANTS_BUILD_DIR:-$ROOT/build/mutants}
rm -rf "$work/original"
mkdir -p "$work/original"
note "building the unchanged programs into ${work#"$ROOT"/}/original/ with ${CC:-cc}"
for program in "${PROGRAMS[@]}"; do
    build_into "$work/original" "$program" "$ROOT/$program.c" ||
        die "$program.c does not build: $(cat "$work/original/build.log")"
done

# Certificates once, for every suite run (as tests/run.sh does).
"$ROOT/scripts/gen-certs.sh" "$SCRATCH/certs" >"$SCRATCH/gen-certs.log" 2>&1 ||
    die "scripts/gen-certs.sh failed: $(tail -n 20 "$SCRATCH/gen-certs.log")"
export TEST_CERTS_CACHE=$SCRATCH/certs

# The baseline: every test named by a selected mutant, once, on the unchanged programs.
declare -A baseline=()
for i in "${selected[@]}"; do
    while read -r suite tests; do
        [[ -n $suite ]] || continue
        for test in $tests; do
            [[ " ${baseline[$suite]:-} " == *" $test "* ]] || baseline[$suite]+=" $test"
        done
    done <<<"${TESTS[i]}"
done
note "running the mutants' tests on the unchanged programs first"
mkdir -p "$SCRATCH/baseline"
for suite in "${!baseline[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    # shellcheck disable=SC2086  # word splitting of the test names is intended
    run_tests "$work/original" "$work/original/$suite.log" "$suite" ${baseline[$suite]} \
        >"$SCRATCH/baseline/$suite" &
done
wait
baseline_failures=()
for suite in "${!baseline[@]}"; do
    while read -r outcome test; do
        [[ $outcome != failed && $outcome != missing ]] || baseline_failures+=("$suite:$test ($outcome)")
        [[ $outcome != skipped ]] || note "skipped on this machine: $suite:$test (mutants that rely on it will survive)"
    done <"$SCRATCH/baseline/$suite"
done
if ((${#baseline_failures[@]} > 0)); then
    printf 'baseline: fails on the unchanged programs (%s/SUITE.log): %s\n' "$work/original" "${baseline_failures[@]}"
    die "the tests must pass on the unchanged programs before a mutant can be judged"
fi

note "${#selected[@]} mutants, $jobs at a time"
mkdir -p "$SCRATCH/results"
# Each mutant runs in the background and writes its line to results/INDEX; the lines are shown
# in the list's order as soon as they are ready.
next_to_show=0
show_ready() {
    local result
    while ((next_to_show < ${#selected[@]})) && [[ -f $SCRATCH/results/$next_to_show.done ]]; do
        result=$SCRATCH/results/$next_to_show
        [[ -s $result ]] ||
            result_line ERROR "${NAMES[${selected[next_to_show]}]}" "scripts/mutants.sh itself failed here" >"$result"
        cat "$result"
        next_to_show=$((next_to_show + 1))
    done
}
for position in "${!selected[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do
        wait -n || true
        show_ready
    done
    {
        run_mutant "${selected[position]}" >"$SCRATCH/results/$position" 2>"$SCRATCH/results/$position.err" || true
        touch "$SCRATCH/results/$position.done"
    } &
done
wait
show_ready

all_results=$(cat "$SCRATCH"/results/*[0-9])
killed=$(grep -c '^killed ' <<<"$all_results" || true)
survived=$(grep -c '^SURVIVED ' <<<"$all_results" || true)
in_error=$(grep -c '^ERROR ' <<<"$all_results" || true)
note "$killed killed, $survived survived, $in_error in error ($((SECONDS - started)) s)"
((survived == 0 && in_error == 0))
