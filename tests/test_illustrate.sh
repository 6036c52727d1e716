#!/usr/bin/env bash
# The Illustrated mTLS Connection (`make illustrate`, docs/illustrated/): scripts/illustrate.sh
# captures real connections between the chapters' programs on lo and scripts/illustrate.py lays
# out tshark's decoding with the notes of scripts/illustrate-notes.txt. Here it runs once into a
# temporary folder, with the test certificates, and then: the page holds each connection and the
# fields this suite is about; a field of client authentication without a note, or a note for a
# field the captures lack, stops it; the page (the fresh one and the committed one) loads nothing
# from anywhere; headless Chromium draws it.
# Needs tshark (dumpcap) with the right to capture on lo, and Chromium for the last test; without
# them the tests are skipped (they fail under REQUIRE_PEERS=1, as in CI).
# Run alone with `tests/run.sh test_illustrate` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

NOTES=$ROOT/scripts/illustrate-notes.txt
COMMITTED=$ROOT/docs/illustrated/index.html
MADE=''   # why the page could not be made, or "yes"

oneTimeSetUp() {
    require_program "$(program_path 03-custom-ca-validation/server)" &&
        require_program "$(program_path 04-client/client)" && make_test_certs || return 1
    PAGE=$SHUNIT_TMPDIR/page CAPTURES=$SHUNIT_TMPDIR/captures
    if ! command -v tshark >/dev/null || ! command -v dumpcap >/dev/null; then
        MADE='tshark is not installed'
        return 0
    fi
    # Capturing needs CAP_NET_RAW: without it the script stops early and says so.
    if ! timeout -k 5 170 "$ROOT/scripts/illustrate.sh" --certs "$CERTS" --out "$PAGE" --captures "$CAPTURES" \
            >"$SHUNIT_TMPDIR/illustrate.log" 2>&1; then
        if grep -q 'cannot capture on the loopback' "$SHUNIT_TMPDIR/illustrate.log"; then
            MADE="dumpcap cannot capture on lo here (needs CAP_NET_RAW)"
        else
            MADE="scripts/illustrate.sh failed: $(tail -n 20 "$SHUNIT_TMPDIR/illustrate.log")"
        fi
        return 0
    fi
    MADE=yes
}

# need_page: true when the page was made; else skips (a missing tool or right) or fails.
need_page() {
    [[ $MADE == yes ]] && return 0
    case $MADE in
        'tshark is not installed') missing_peer tshark 'the Illustrated mTLS Connection (apt-get install tshark)' ;;
        dumpcap*) missing_peer 'dumpcap with CAP_NET_RAW' 'capturing on lo for the Illustrated mTLS Connection' ;;
        *) fail "$MADE" ;;
    esac
    return 1
}

# render NOTES_FILE OUT: runs the renderer alone on the captures made in oneTimeSetUp.
render() {
    RENDER_STATUS=0
    timeout -k 5 120 python3 "$ROOT/scripts/illustrate.py" --captures "$CAPTURES" --notes "$1" --out "$2" \
        >"$2.log" 2>&1 || RENDER_STATUS=$?
    RENDER_OUTPUT=$(cat "$2.log")
}

# without_note KEY FILE: writes NOTES without the note [KEY] (its line and its text) to FILE.
without_note() {
    awk -v key="[$1]" '
        /^\[/ { skipping = (index($0, key) == 1) }
        !skipping { print }' "$NOTES" >"$2"
}

test_the_page_shows_every_connection_and_the_fields_of_client_authentication() {
    need_page || return 0
    local page
    page=$(cat "$PAGE/index.html")
    assert_output_has "$(cat "$SHUNIT_TMPDIR/illustrate.log")" 'wrote .*index.html' "illustrate.sh's output" || return
    local wanted
    for wanted in 'id="tls13"' 'id="tls12"' 'id="no-cert"' 'id="unknown-ca"' 'id="other-ca-403"' 'id="resumption"' \
            'tls.handshake.dnames' 'tls.handshake.certificate_request_context_length' \
            'tls.handshake.client_cert_vrfy.sig' 'tls.handshake.cert_types' 'Client Key Exchange' \
            'id-at-commonName=mtls-by-example CA' 'Description: Certificate Required \(116\)' \
            'Description: Unknown CA \(48\)' 'HTTP/1.1 403 Forbidden' 'tls.handshake.extensions.psk.binders' \
            'TLS 1.3, client CertificateVerify' '55 04 03 0c 12 6d 74 6c 73'; do
        assert_output_has "$page" "$wanted" "the page (looking for $wanted)" || return
    done
    # The resumed connection shows no certificate: after its ClientHello, no Certificate message.
    local resumed
    resumed=$(sed -n '/<h2 id="resumption"/,/<h2 id="varies"/p' "$PAGE/index.html")
    assert_output_has "$resumed" 'pre_shared_key|psk' "the resumption section" || return
    if grep -q '<h4>.*Certificate' <<<"$resumed"; then
        fail "the resumed connection shows a Certificate record: $(grep '<h4>' <<<"$resumed" | head -n 20)"
    fi
}

test_a_field_of_client_authentication_without_a_note_stops_it() {
    need_page || return 0
    without_note 'tls.handshake.dname' "$SHUNIT_TMPDIR/notes-without-dname.txt"
    assertNotEquals "the note was removed from the copy" "$(wc -l <"$NOTES")" \
        "$(wc -l <"$SHUNIT_TMPDIR/notes-without-dname.txt")" || return
    render "$SHUNIT_TMPDIR/notes-without-dname.txt" "$SHUNIT_TMPDIR/page-without-dname"
    assertEquals "exit status without the note (output: $RENDER_OUTPUT)" 1 "$RENDER_STATUS" || return
    assert_output_has "$RENDER_OUTPUT" "no note for tls\.handshake\.dname in the server's Certificate Request" \
        "the renderer's output" || return
    assertFalse "no page is written" "[ -e '$SHUNIT_TMPDIR/page-without-dname/index.html' ]"
}

test_a_note_for_a_field_the_captures_lack_stops_it() {
    local stray=$SHUNIT_TMPDIR/notes-with-stray.txt
    need_page || return 0
    { cat "$NOTES"; printf '\n[tls.handshake.certificate_authority @ Certificate Request]\nNo such field.\n'; } >"$stray"
    render "$stray" "$SHUNIT_TMPDIR/page-with-stray"
    assertEquals "exit status with a stray note (output: $RENDER_OUTPUT)" 1 "$RENDER_STATUS" || return
    assert_output_has "$RENDER_OUTPUT" \
        'the note \[tls\.handshake\.certificate_authority @ Certificate Request\] names a field' \
        "the renderer's output" || return
    # (With the notes as they are, the same captures gave the page: oneTimeSetUp.)
    assertFalse "no page is written" "[ -e '$SHUNIT_TMPDIR/page-with-stray/index.html' ]"
}

# assert_self_contained FILE: no script, no stylesheet or image from elsewhere, no link that
# leaves the page, no @import or url(): the page reads the same offline and on paper.
assert_self_contained() {
    local found
    found=$(grep -noiE '<script|<link|<iframe|<img|<object|<embed|src=|@import|url\(|href="[^#"][^"]*"' "$1" | head -n 5)
    assertEquals "$1 must load nothing from outside (found: $found)" '' "$found"
}

test_the_page_loads_nothing_from_outside() {
    need_page || return 0
    assert_self_contained "$PAGE/index.html"
}

test_the_committed_page_loads_nothing_from_outside() {
    assertTrue "docs/illustrated/index.html is committed (make illustrate)" "[ -s '$COMMITTED' ]" || return
    assertTrue "docs/illustrated/screenshot.png is committed" "[ -s '$ROOT/docs/illustrated/screenshot.png' ]" || return
    assert_self_contained "$COMMITTED"
}

# The committed page is made from the notes as they are: editing a note and not running
# `make illustrate` leaves a page that says something else.
test_the_committed_page_has_every_note_as_written() {
    local stale
    [[ -s $COMMITTED ]] || { fail "docs/illustrated/index.html is not committed"; return; }
    stale=$(PYTHONDONTWRITEBYTECODE=1 python3 - "$ROOT/scripts" "$NOTES" "$COMMITTED" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import illustrate
notes = illustrate.Notes(sys.argv[2])
page = open(sys.argv[3], encoding="utf-8").read()
for key, text in notes.text.items():
    if illustrate.note_html(text) not in page:
        print("[%s]" % key)
EOF
)
    assertEquals "notes whose text the committed page lacks (run make illustrate)" '' "$stale"
}

# The READMEs link to places in the committed page (#tls13-client-certificate-verify...): each of
# those anchors must be there.
test_the_readmes_link_to_places_the_page_has() {
    local readme anchor missing='' count=0
    [[ -s $COMMITTED ]] || { fail "docs/illustrated/index.html is not committed"; return; }
    for readme in "$ROOT"/README.md "$ROOT"/0*/README.md; do
        while read -r anchor; do
            count=$((count + 1))
            grep -q "id=\"$anchor\"" "$COMMITTED" || missing+="${readme#"$ROOT"/} links to #$anchor; "
        done < <(grep -o 'docs/illustrated/index\.html#[A-Za-z0-9_-]*' "$readme" | sed 's/.*#//')
    done
    assertTrue "the READMEs link into the page ($count links)" "[ $count -ge 5 ]" || return
    assertEquals "anchors the page lacks" '' "$missing"
}

# png_summary FILE: prints "WIDTH HEIGHT COLOURS INKED_PERCENT" of an 8-bit RGB(A) PNG, decoded
# with Python's zlib (each row's filter undone), COLOURS counting distinct pixels up to 1000.
png_summary() {
    python3 - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
assert depth == 8 and colour in (2, 6), "only 8-bit RGB or RGBA"
bpp = 3 if colour == 2 else 4
raw, stride = zlib.decompress(idat), width * bpp
prev, colours, inked, out = bytearray(stride), set(), 0, 0
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 4):   # every 4th pixel is plenty
        pixel = bytes(line[x:x + 3])
        if len(colours) < 1000: colours.add(pixel)
        inked += pixel != b"\xff\xff\xff"
        out += 1
    prev = line
print(width, height, len(colours), 100 * inked // out)
EOF
}

test_headless_chromium_draws_the_page() {
    need_page || return 0
    local browser shot=$SHUNIT_TMPDIR/page.png summary width height colours inked
    browser=$(command -v chromium || command -v chromium-browser || true)
    if [[ -z $browser ]]; then missing_peer chromium 'drawing the Illustrated mTLS Connection'; return 0; fi
    timeout -k 5 90 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$SHUNIT_TMPDIR/browser" --window-size=900,1200 --screenshot="$shot" \
        "file://$PAGE/index.html" >"$SHUNIT_TMPDIR/browser.log" 2>&1
    assertTrue "Chromium wrote a screenshot ($(tail -n 3 "$SHUNIT_TMPDIR/browser.log"))" "[ -s '$shot' ]" || return
    summary=$(png_summary "$shot")
    read -r width height colours inked <<<"$summary"
    assertEquals "screenshot size (width height colours inked%: $summary)" "900 1200" "$width $height" || return
    # Text in several colours and the tinted records: many colours, and ink on a good part of it.
    assertTrue "the screenshot has text and colour, not a blank page ($summary)" \
        "[ ${colours:-0} -ge 50 ] && [ ${inked:-0} -ge 5 ]"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
