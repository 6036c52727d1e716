# shellcheck shell=bash
# tests/interop/helpers.sh: what tests/test_interop.sh and tests/test_browser.sh share (sourced after
# tests/lib.sh): the check of the interop table in docs/other-languages.md.

# The interop table in docs/other-languages.md has one row per client and one
# column per case: our client certificate, none, another CA's, and ours while the client trusts
# another CA than the server's. Each cell says what the client got: `200`, `403`, or
# "refused: `TEXT`", where TEXT is part of what the client prints when the connection fails
# (copied from a run), or a bare `refused` when the client prints nothing about it. The suites look up
# the cell and compare it with what the client really got, so the table cannot drift.

# Where the table is.
INTEROP_TABLE=${INTEROP_TABLE:-$ROOT/docs/other-languages.md}

# readme_cell CLIENT COLUMN: prints the cell of the row whose first cell is CLIENT (backticks
# dropped), COLUMN 1 being our certificate, 2 none, 3 another CA's, 4 ours while trusting other-ca.crt. Prints nothing when there is
# no such row.
readme_cell() {
    awk -F'|' -v client="$1" -v column="$(($2 + 2))" '
        /^<!-- interop-table/ { inside = 1; next }
        inside && !/^\|/ && seen { exit }
        inside && /^\|/ {
            seen = 1
            name = $2; gsub(/`/, "", name); gsub(/^ +| +$/, "", name)
            if (name == client) { cell = $column; gsub(/^ +| +$/, "", cell); print cell; exit }
        }' "$INTEROP_TABLE"
}

# readme_clients: prints the first cell of every row of the interop table (backticks dropped).
readme_clients() {
    awk -F'|' '
        /^<!-- interop-table/ { inside = 1; next }
        inside && !/^\|/ && seen { exit }
        inside && /^\|/ {
            seen = 1
            name = $2; gsub(/`/, "", name); gsub(/^ +| +$/, "", name)
            if (name != "client" && name !~ /^-+$/) print name
        }' "$INTEROP_TABLE"
}

# outcome_against_readme CLIENT COLUMN OUTCOME DETAIL: prints a line saying what differs between
# the README's cell and OUTCOME (200, 403 or refused) with DETAIL (what the client printed), and
# nothing when they agree.
outcome_against_readme() {
    local cell words
    cell=$(readme_cell "$1" "$2")
    case $cell in
        '')
            echo "README.md's interop table has no row '$1' (or no column $2)" ;;
        200 | 403)
            [[ $3 == "$cell" ]] || echo "$1, column $2: README says $cell, the client got $3 ($4)" ;;
        refused)   # the client shows no words of its own for it
            [[ $3 == refused ]] || echo "$1, column $2: README says refused, the client got $3 ($4)" ;;
        'refused: `'*'`')
            words=${cell#'refused: `'}; words=${words%'`'}
            if [[ $3 != refused ]]; then
                echo "$1, column $2: README says refused, the client got $3 ($4)"
            elif [[ $4 != *"$words"* ]]; then
                echo "$1, column $2: README says the client prints '$words', it printed: $4"
            fi ;;
        *)
            echo "$1, column $2: README cell '$cell' is not 200, 403 or refused: \`TEXT\`" ;;
    esac
}
