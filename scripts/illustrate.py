#!/usr/bin/env python3
"""scripts/illustrate.py --captures DIR [--notes FILE] [--out DIR]: writes the Illustrated mTLS
Connection (DIR/index.html) from the captures that scripts/illustrate.sh made.

Every byte on the page comes from tshark: each capture is decoded twice, as PDML (the tree of
fields with tshark's names and descriptions, the field name being the key of every note) and as
JSON with -x (the bytes of every field, also those of the decrypted records, which PDML leaves
out). Nothing here parses TLS: the fields, their offsets and lengths are the dissector's. This
script only lays them out, byte for byte in the order of the wire, and puts the notes of
scripts/illustrate-notes.txt beside them.

It fails (exit 1, naming each problem) when a field of the messages that carry client
authentication (CertificateRequest, the client's Certificate and CertificateVerify, every Alert)
has no note, or when a note names a field, or a section, that the page does not have: the notes
follow the captures, and a change in OpenSSL or tshark that adds, renames or drops a field shows
up as a failed `make illustrate`, not as a page that quietly explains something else.
Python 3 standard library only.
"""

import argparse
import concurrent.futures
import html
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

# The connections on the page, in order: the capture file's name (in --captures), the anchor, and
# the note that opens its section. illustrate.sh makes one capture per connection.
CONNECTIONS = [
    ("tls13", "tls13", "TLS 1.3: a trusted client"),
    ("tls12", "tls12", "TLS 1.2: a trusted client"),
    ("no-cert", "no-cert", "Refused: no client certificate (TLS 1.3)"),
    ("unknown-ca", "unknown-ca", "Refused in the handshake: another CA's client (unknown_ca)"),
    ("other-ca-403", "other-ca-403", "Chapter 03's way: another CA's client gets a 403"),
    ("resumption", "resumption", "Resumption: a TLS 1.3 PSK handshake"),
]

# The messages whose every field must carry a note: the ones that make client authentication.
# A context is "SENDER MESSAGE", MESSAGE being tshark's name of the handshake type.
def needs_notes(sender, message):
    return (message == "Certificate Request" or message == "Alert"
            or (sender == "client" and message in ("Certificate", "Certificate Verify")))

# Fields whose inside is not taken apart on the page: a certificate's parts are shown as blocks
# (issuer, validity, subject, public key...), each with tshark's one-line summary; the bytes inside
# (DER tags, each bit of the key usage) would bury the lesson.
KEEP_WHOLE = {
    "x509af.signature_element", "x509af.issuer", "x509af.validity_element", "x509af.subject",
    "x509af.subjectPublicKeyInfo_element", "x509af.extensions",
    "x509af.algorithmIdentifier_element", "tls.handshake.dname", "tls.handshake.random",
    "tls.handshake.sig_hash_alg",
}

# Fields tshark computes (fingerprints of the hello, expert info): no bytes of their own.
SKIPPED_PREFIXES = ("_ws.", "tls.handshake.ja3", "tls.handshake.ja4")


class NotesError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Notes: "[KEY]" lines, each followed by its text. KEY is a field name, optionally "@ CONTEXT".
# ------------------------------------------------------------------------------------------------

class Notes:
    def __init__(self, path):
        self.path = path
        self.text = {}     # key -> note text
        self.flags = {}    # key -> "varies" / "fixed" / ""
        self.line = {}     # key -> line number, for messages
        self.used = set()
        key = None
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("#"):   # a comment, anywhere
                    continue
                m = re.match(r"^\[([^\]]+)\]\s*(varies|fixed)?\s*$", line)
                if m:
                    key = " ".join(m.group(1).split())
                    if key in self.text:
                        raise NotesError("%s:%d: a second note for [%s]" % (path, number, key))
                    self.text[key], self.flags[key], self.line[key] = "", m.group(2) or "", number
                elif key is not None:
                    self.text[key] += line
        for key in self.text:
            self.text[key] = self.text[key].strip()

    def section(self, key):
        """The text of a prose note the page always has (an introduction, a section's opening)."""
        if key not in self.text:
            raise NotesError("%s: no note [%s], which the page needs" % (self.path, key))
        self.used.add(key)
        return self.text[key]

    def lookup(self, field, scenario, sender, message):
        """The note for FIELD in MESSAGE sent by SENDER, most specific first."""
        for key in ("%s @ %s: %s %s" % (field, scenario, sender, message),
                    "%s @ %s %s" % (field, sender, message),
                    "%s @ %s" % (field, message), field):
            if key in self.text:
                self.used.add(key)
                return key
        return None

    def unused(self):
        return [k for k in self.text if k not in self.used]


def note_html(text):
    """The small markup of the notes: blank lines part paragraphs, `code`, **strong**."""
    def inline(words):
        p = html.escape(" ".join(words.split()), quote=False)
        p = re.sub(r"`([^`]+)`", r"<code>\1</code>", p)
        return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", p)
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        if para.lstrip().startswith("- "):   # a list: each item starts with "- "
            items = re.split(r"(?:^|\n)\s*- ", para.strip())
            out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % inline(i) for i in items if i.strip()))
        else:
            out.append("<p>%s</p>" % inline(para))
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# tshark's view of a capture
# ------------------------------------------------------------------------------------------------

class Node:
    __slots__ = ("name", "label", "pos", "size", "children")

    def __init__(self, element):
        self.name = element.get("name") or ""
        self.label = element.get("showname") or element.get("show") or ""
        self.pos = int(element.get("pos") or 0)
        self.size = int(element.get("size") or 0)
        self.children = [Node(c) for c in element if c.tag == "field"
                         and not (c.get("name") or "").startswith(SKIPPED_PREFIXES)]


class Record:
    """One TLS record: its PDML tree, its bytes on the wire and, when decrypted, its plaintext."""

    def __init__(self, node, wire, wire_pos, plain):
        self.node, self.wire, self.wire_pos, self.plain = node, wire, wire_pos, plain
        # TLS 1.3 hides the type (opaque_type); TLS 1.2 shows it, and its encrypted Finished is
        # decoded from the decrypted data, where positions count from 0.
        self.hidden_type = any(c.name == "tls.record.opaque_type" for c in node.children)
        content = [c for c in node.children if not c.name.startswith("tls.record.")]
        # Application data is drawn as its ciphertext; its plaintext, the HTTP, comes after it.
        only_app_data = bool(content) and all(c.name == "tls.app_data" for c in content)
        self.decrypted = not only_app_data and (self.hidden_type or any(
            g.pos < wire_pos for c in content for g in c.children if g.size > 0))
        if self.decrypted:
            # tshark places a decrypted message at its record's place in the frame, and its fields
            # in the decrypted data: the message starts where its first field does.
            for c in node.children:
                if c.children and not c.name.startswith("tls.record."):
                    c.pos = min(g.pos for g in c.children if g.size > 0)

    def bytes_of(self, node, in_content):
        if self.decrypted and in_content:
            try:
                return bytes(self.plain[i] for i in range(node.pos, node.pos + node.size))
            except KeyError:
                raise NotesError("tshark gave no decrypted bytes for %s at %d+%d"
                                 % (node.name or node.label, node.pos, node.size))
        start = node.pos - self.wire_pos
        if start < 0 or start + node.size > len(self.wire):
            raise NotesError("%s at %d+%d lies outside its record (%d+%d): a reassembled record?"
                             % (node.name or node.label, node.pos, node.size, self.wire_pos,
                                len(self.wire)))
        return self.wire[start:start + node.size]


class Packet:
    def __init__(self, number, src_port, stream, records, http):
        self.number, self.src_port, self.stream = number, src_port, stream
        self.records, self.http = records, http


def tshark(capture, keylog, *args):
    command = ["tshark", "-n", "-r", capture, "-o", "tls.keylog_file:" + keylog] + list(args)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if result.returncode != 0:
        raise NotesError("%s failed: %s" % (" ".join(command), result.stderr.decode(errors="replace")))
    return result.stdout


def pairs_walk(pairs, found):
    """Every "NAME_raw": [hex, pos, len, ...] under a JSON object kept as a list of pairs."""
    for key, value in pairs:
        if key.endswith("_raw") and isinstance(value, list) and value and isinstance(value[0], str):
            # Bit fields (a key usage flag) come as one bit, not as their bytes: skipped.
            if len(value[0]) == 2 * int(value[2]):
                found.append((value[0], int(value[1]), int(value[2])))
        elif isinstance(value, list) and value and isinstance(value[0], tuple):
            pairs_walk(value, found)
        elif isinstance(value, list) and value and isinstance(value[0], list):
            for item in value:
                if item and isinstance(item[0], tuple):
                    pairs_walk(item, found)


def read_capture(capture, keylog):
    pdml = ET.fromstring(tshark(capture, keylog, "-T", "pdml"))
    # Duplicate keys (one "tls.record" per record) are kept: each JSON object becomes a list of pairs.
    packets_json = json.loads(tshark(capture, keylog, "-T", "json", "-x"), object_pairs_hook=list)
    packets = []
    for element, pj in zip(pdml.findall("packet"), packets_json):
        layers = dict(pj).get("_source")
        layers = dict(layers).get("layers") if layers else []
        number = int(element.find("proto[@name='geninfo']/field[@name='num']").get("show"))
        tcp = element.find("proto[@name='tcp']")
        if tcp is None:
            continue
        src_port = int(tcp.find("field[@name='tcp.srcport']").get("show"))
        stream = int(tcp.find("field[@name='tcp.stream']").get("show"))
        # The records of the packet, in order, from both views.
        json_records = []
        for key, value in layers:
            if key != "tls":
                continue
            wire = None
            for k, v in value:
                if k == "tls.record_raw":
                    wire = (bytes.fromhex(v[0]), int(v[1]))
                elif k == "tls.record":
                    found = []
                    pairs_walk([p for p in v if not p[0].startswith("tls.record.")], found)
                    plain = {}
                    for hexa, pos, length in found:
                        for i, b in enumerate(bytes.fromhex(hexa)[:length]):
                            plain[pos + i] = b
                    json_records.append((wire, plain))
        pdml_records = [Node(f) for proto in element.findall("proto[@name='tls']")
                        for f in proto if f.get("name") == "tls.record"]
        if len(pdml_records) != len(json_records):
            raise NotesError("frame %d: PDML has %d TLS records, JSON %d"
                             % (number, len(pdml_records), len(json_records)))
        records = []
        for node, ((wire, wire_pos), plain) in zip(pdml_records, json_records):
            if node.pos != wire_pos:
                raise NotesError("frame %d: a record at %d in PDML, %d in JSON" % (number, node.pos, wire_pos))
            records.append(Record(node, wire, wire_pos, plain))
        http = None
        for key, value in layers:
            if key == "http_raw":
                http = bytes.fromhex(value[0])
        if records:
            packets.append(Packet(number, src_port, stream, records, http))
    return packets


# ------------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------------

def hex_lines(data, width=16):
    return "\n".join(" ".join("%02x" % b for b in data[i:i + width]) for i in range(0, len(data), width))


def ascii_text(data):
    return "".join(chr(b) if 32 <= b < 127 or b in (10,) else ("" if b == 13 else ".") for b in data)


def label_html(label):
    """tshark's description of a field, then its name (the key of the notes, and a display filter)."""
    if isinstance(label, tuple):
        text, name = label
        if name:
            return '%s <code class="fname">%s</code>' % (html.escape(text), html.escape(name))
        return html.escape(text)
    return html.escape(label)


def message_name(node):
    """tshark's name of a handshake message ("Certificate Request") or of the record's content
    ("Alert: Close Notify", "Application Data", "Change Cipher Spec")."""
    for c in node.children:
        if c.name == "tls.handshake.type":
            m = re.match(r"Handshake Type: (.*) \(\d+\)$", c.label)
            return m.group(1) if m else c.label
        if c.name == "tls.alert_message.desc":
            m = re.match(r"Description: (.*) \(\d+\)$", c.label)
            return "Alert: " + (m.group(1) if m else c.label)
    if node.name == "tls.app_data":
        return "Application Data"
    if node.name == "tls.change_cipher_spec":
        return "Change Cipher Spec"
    return node.label


class Page:
    def __init__(self, notes):
        self.notes = notes
        self.out = []
        self.missing = []
        self.shown = {}       # note key -> anchor of its first appearance
        self.anchor_count = 0
        self.counted = 0      # bytes shown in the record being drawn
        self.drawn = {}       # (field, sender, message) -> (first scenario, tshark's label)
        self.anchors = set()

    def w(self, s):
        self.out.append(s)

    def note_cell(self, key, context):
        """The note beside a field: in full the first time, later a link back to it."""
        if key is None:
            return ""
        flag = self.notes.flags.get(key, "")
        badge = ""
        if flag == "varies":
            badge = '<span class="badge varies">changes every connection</span> '
        elif flag == "fixed":
            badge = '<span class="badge fixed">the same on every connection</span> '
        if key in self.shown:
            # Again: the fields of client authentication link back to their note; the others
            # (record headers, lengths) would only repeat a link on every record.
            if not needs_notes(context[1], context[2]):
                return badge
            return '%s<p class="again">See the <a href="#%s">note above</a>.</p>' % (badge, self.shown[key])
        self.anchor_count += 1
        anchor = "n%d" % self.anchor_count
        self.shown[key] = anchor
        return '<div id="%s">%s%s</div>' % (anchor, badge, note_html(self.notes.text[key]))

    def row(self, depth, hexa, label, note, cls="", count=0):
        self.counted += count
        self.w('<tr class="%s"><td class="hex">%s</td><td class="field" style="padding-left:%.1fem">'
               '<span class="label">%s</span>%s</td></tr>'
               % (cls, html.escape(hexa), 0.4 + 1.1 * depth, label_html(label),
                  ('<div class="note">%s</div>' % note) if note else ""))

    def fields(self, node, record, ctx, depth, seen, in_content=True):
        """Rows for NODE's children, in wire order, each byte once: a field with parts shows its
        parts; bytes inside a field that belong to none of its parts get a row of their own."""
        scenario, sender, message = ctx
        cursor = node.pos
        children = [c for c in node.children if c.size > 0 or c.children]
        for child in children:
            if child.size == 0 and not child.children:
                continue
            if child.pos > cursor and child.pos <= node.pos + node.size:
                self.gap(record, node, cursor, child.pos - cursor, depth, in_content)
            self.field(child, record, ctx, depth, seen, in_content)
            cursor = max(cursor, child.pos + child.size)
        if cursor < node.pos + node.size and children:
            self.gap(record, node, cursor, node.pos + node.size - cursor, depth, in_content)

    def gap(self, record, parent, pos, size, depth, in_content):
        fake = Node.__new__(Node)
        fake.name, fake.label, fake.pos, fake.size, fake.children = "", "", pos, size, []
        data = record.bytes_of(fake, in_content)
        if parent.name.startswith(("x509", "tls.handshake.dname")):
            what = "DER tag and length"
        else:
            what = "bytes of %s that tshark gives no field of their own" % (parent.name or parent.label)
        self.row(depth, hex_lines(data), "(%s)" % what, "", "gap", len(data))

    def field(self, node, record, ctx, depth, seen, in_content):
        scenario, sender, message = ctx
        key = None
        if node.name:
            self.drawn.setdefault((node.name, sender, message), (scenario, node.label))
            key = self.notes.lookup(node.name, scenario, sender, message)
            if key is None and needs_notes(sender, message):
                self.missing.append("%s in the %s's %s (%s)" % (node.name, sender, message, scenario))
        first = node.name not in seen
        seen.add(node.name)
        note = self.note_cell(key, ctx) if (key and first) else ""
        parts = [c for c in node.children if c.size > 0]
        label = node.label or node.name
        if parts and node.name not in KEEP_WHOLE:
            self.row(depth, "", (label, node.name), note, "group")
            self.fields(node, record, ctx, depth + 1, seen, in_content)
        elif not first and node.name and not note:
            # The next item of a list (a cipher suite, a signature algorithm): one compact line,
            # its field name given once, on the first item.
            data = record.bytes_of(node, in_content)
            self.row(depth, hex_lines(data), label, "", "item", len(data))
        else:
            data = record.bytes_of(node, in_content) if node.size else b""
            self.row(depth, hex_lines(data), (label, node.name), note, "", len(data))

    def record(self, record, scenario, sender, client_is_left):
        node = record.node
        header = [c for c in node.children if c.name in ("tls.record.content_type", "tls.record.opaque_type",
                                                          "tls.record.version", "tls.record.length")]
        if record.hidden_type:
            header = [c for c in header if c.name != "tls.record.content_type"]
        content = [c for c in node.children if not c.name.startswith("tls.record.")]
        names = [message_name(c) for c in content] or [node.label]
        encrypted = record.decrypted or record.hidden_type or any(c.name == "tls.app_data" for c in content)
        kind = "encrypted" if encrypted else "in clear"
        arrow = "client &rarr; server" if sender == "client" else "server &rarr; client"
        # An anchor for the first record of each kind in a connection, for the chapters' READMEs to
        # link to: #tls13-client-certificate-verify.
        anchor = "%s-%s-%s" % (scenario, sender, re.sub(r"[^a-z0-9]+", "-", names[0].lower()).strip("-"))
        anchor_attr = ""
        if anchor not in self.anchors:
            self.anchors.add(anchor)
            anchor_attr = ' id="%s"' % anchor
        self.w('<section%s class="record %s"><h4><span class="dir">%s</span> %s <span class="kind">(%s)</span></h4>'
               % (anchor_attr, sender, arrow, html.escape(", ".join(names)), kind))
        self.w('<table class="bytes">')
        self.counted = 0
        seen = set()
        rctx = (scenario, sender, "record")
        for c in header:
            self.field(c, record, rctx, 0, seen, False)
        if record.decrypted:
            body = record.wire[5:]
            key = self.notes.lookup("encrypted record body", scenario, sender, "record")
            self.row(0, hex_lines(body), "The encrypted record body (%d bytes)" % len(body),
                     self.note_cell(key, rctx), "cipher", len(body))
            self.w('<tr class="decrypted"><td colspan="2">decrypted with the key log:</td></tr>')
        for c in content:
            message = message_name(c) if c.name == "tls.handshake" else (
                "Alert" if c.name == "tls.alert_message" else c.name)
            ctx = (scenario, sender, message)
            seen = set()
            if c.name in ("tls.handshake", "tls.alert_message"):
                key = self.notes.lookup(c.name, scenario, sender, message)
                if key is None and needs_notes(sender, message):
                    self.missing.append("%s in the %s's %s (%s)" % (c.name, sender, message, scenario))
                self.row(0, "", (c.label, c.name), self.note_cell(key, ctx), "message")
                self.fields(c, record, ctx, 1, seen, True)
            else:
                self.field(c, record, ctx, 0, seen, True)
        # Every byte once: the record on the wire, and for an encrypted one also what it hides.
        wanted = len(record.wire) + (sum(c.size for c in content) if record.decrypted else 0)
        if self.counted != wanted:
            raise NotesError("%s: %d bytes shown of %d: a field overlaps another or bytes are missing"
                             % (node.label, self.counted, wanted))
        self.w("</table></section>")

    def http(self, data, sender):
        self.w('<section class="record %s http"><h4>decrypted application data: HTTP</h4>' % sender)
        self.w('<pre class="plain">%s</pre>' % html.escape(ascii_text(data)))
        self.w("</section>")


def connection_outline(packets, server_port):
    rows = []
    for p in packets:
        sender = "server" if p.src_port == server_port else "client"
        for r in p.records:
            content = [c for c in r.node.children if not c.name.startswith("tls.record.")]
            names = [message_name(c) for c in content] or [r.node.label]
            if p.http and names == ["Application Data"]:
                names = ["Application Data: HTTP %s" % ("request" if sender == "client" else "response")]
            rows.append((sender, ", ".join(names)))
    return rows


def read_meta(captures, name):
    meta = {}
    path = os.path.join(captures, name + ".meta")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    def text(suffix):
        p = os.path.join(captures, name + suffix)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                return f.read()
        return ""
    return meta, text(".client-out"), text(".client-err"), text(".server-log")


CSS = """
:root { --client: #e8f1fb; --client-edge: #2f6db5; --server: #fbf0e4; --server-edge: #b5662f; }
body { font-family: Georgia, "Times New Roman", serif; max-width: 62em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #1a1a1a; background: #fff; }
h1 { font-size: 2em; margin-bottom: .2em; } h2 { margin-top: 2.2em; border-bottom: 2px solid #333; }
h3 { margin-top: 1.6em; } h4 { margin: 0 0 .4em 0; font-family: Helvetica, Arial, sans-serif; font-size: 1em; }
code, pre, td.hex { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
code { font-size: .9em; background: #f3f3f3; padding: 0 .2em; }
.lede { font-size: 1.1em; }
nav ol { columns: 2; }
.record { border-left: 6px solid; padding: .6em .8em; margin: 1em 0; break-inside: auto; }
.record.client { background: var(--client); border-color: var(--client-edge); margin-right: 3em; }
.record.server { background: var(--server); border-color: var(--server-edge); margin-left: 3em; }
.dir { font-variant: small-caps; color: #444; } .kind { font-weight: normal; color: #555; }
table.bytes { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.bytes td { vertical-align: top; padding: .15em .4em; border-top: 1px solid rgba(0,0,0,.08); }
td.hex { white-space: pre; font-size: .72em; width: 48ch; color: #222; }
td.field { font-family: Helvetica, Arial, sans-serif; font-size: .85em; overflow-wrap: anywhere; }
tr.group td.field .label, tr.message td.field .label { font-weight: bold; }
tr.message td { border-top: 2px solid rgba(0,0,0,.3); }
tr.item td { border-top: none; padding-top: 0; padding-bottom: 0; }
tr.gap td { color: #777; } tr.cipher td.hex { color: #777; }
tr.decrypted td { font-style: italic; color: #555; font-family: Helvetica, Arial, sans-serif; font-size: .8em; }
.note { font-family: Georgia, serif; font-size: 1.05em; margin: .2em 0 .3em 0; max-width: 36em; }
.note p { margin: .2em 0; } .note p.again { color: #666; font-style: italic; }
code.fname { background: none; color: #666; font-size: .85em; }
.badge { font-family: Helvetica, Arial, sans-serif; font-size: .75em; padding: 0 .4em; border-radius: .6em; }
.badge.varies { background: #fde2e2; color: #8a1f1f; } .badge.fixed { background: #dff3df; color: #1f5e1f; }
pre.plain, pre.console { background: #fff; border: 1px solid #ccc; padding: .5em; font-size: .8em;
       white-space: pre-wrap; word-break: break-all; }
pre.console { background: #1d1f21; color: #e6e6e6; }
table.outline { width: 100%; table-layout: fixed; }
table.outline td { overflow-wrap: anywhere; padding: .1em .8em; font-family: Helvetica, Arial, sans-serif; font-size: .9em; }
table.outline td.c { text-align: right; color: var(--client-edge); }
table.outline td.s { color: var(--server-edge); }
.sections-note { border: 1px solid #999; padding: .5em 1em; background: #fafafa; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  .record { break-inside: auto; } tr { break-inside: avoid; }
  h2 { break-before: page; } h2.first { break-before: auto; }
  a { color: inherit; text-decoration: none; }
  .record.client, .record.server { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render(captures, notes, versions):
    page = Page(notes)
    w = page.w
    w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    w("<title>The Illustrated mTLS Connection</title><style>%s</style></head><body>" % CSS)
    w("<h1>The Illustrated mTLS Connection</h1>")
    w('<div class="lede">%s</div>' % note_html(notes.section("intro")))
    w('<div class="sections-note">%s</div>' % note_html(notes.section("how this page is made")))
    w("<nav><h3>Contents</h3><ol>")
    for name, anchor, title in CONNECTIONS:
        w('<li><a href="#%s">%s</a></li>' % (anchor, html.escape(title)))
    w('<li><a href="#varies">What changes from run to run, and what does not</a></li>')
    w('<li><a href="#regenerate">Making this page again</a></li></ol></nav>')

    keylog = os.path.join(captures, "keys.log")
    # tshark spends most of its time starting: decode the captures side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        decoded = dict(zip([c[0] for c in CONNECTIONS], pool.map(
            lambda c: read_capture(os.path.join(captures, c[0] + ".pcapng"), keylog), CONNECTIONS)))
    first = True
    for name, anchor, title in CONNECTIONS:
        meta, client_out, client_err, server_log = read_meta(captures, name)
        server_port = int(meta["server_port"])
        packets = decoded[name]
        streams = sorted({p.stream for p in packets})
        w('<h2 id="%s"%s>%s</h2>' % (anchor, ' class="first"' if first else "", html.escape(title)))
        first = False
        w(note_html(notes.section("section " + name)))
        w('<p class="cmd">The server: <code>%s</code><br>The client: <code>%s</code></p>'
          % (html.escape(meta["server"]), html.escape(meta["client"])))
        shown_streams = streams
        if name == "resumption":
            if len(streams) < 2:
                raise NotesError("resumption: the capture holds %d connection(s), not 2" % len(streams))
            shown_streams = streams[-1:]
            w(note_html(notes.section("resumption first connection")))
        for stream in shown_streams:
            sp = [p for p in packets if p.stream == stream]
            w('<h3>The records</h3><table class="outline">')
            for sender, what in connection_outline(sp, server_port):
                if sender == "client":
                    w('<tr><td class="c">%s &rarr;</td><td></td></tr>' % html.escape(what))
                else:
                    w('<tr><td></td><td class="s">&larr; %s</td></tr>' % html.escape(what))
            w("</table>")
            for p in sp:
                sender = "server" if p.src_port == server_port else "client"
                for r in p.records:
                    page.record(r, name, sender, True)
                if p.http:
                    page.http(p.http, sender)
        w("<h3>What each side said</h3>")
        w(note_html(notes.section("outcome " + name)))
        console = ""
        if client_err.strip() or client_out.strip():
            if client_out and not client_out.endswith("\n"):
                client_out += "\n"   # a body without a final newline, as a terminal shows it
            console += "$ %s\n%s%s" % (meta["client"], client_out, client_err)
        w('<pre class="console">%s</pre>' % html.escape(console.rstrip("\n")))
        w("<p>The server's log:</p><pre class=\"console\">%s</pre>" % html.escape(server_log.rstrip("\n")))

    w('<h2 id="varies">What changes from run to run, and what does not</h2>')
    w(note_html(notes.section("what varies")))
    w('<h2 id="regenerate">Making this page again</h2>')
    w(note_html(notes.section("regenerate")))
    w("<p class=\"versions\">This copy: %s</p>" % html.escape(versions))
    w("</body></html>")
    return "\n".join(page.out) + "\n", page


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", required=True, help="the folder illustrate.sh captured into")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--notes", default=os.path.join(here, "illustrate-notes.txt"))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(here), "docs", "illustrated"))
    parser.add_argument("--fields", action="store_true",
                        help="list each field drawn, with the sender and message, and stop (for writing notes)")
    args = parser.parse_args()
    try:
        notes = Notes(args.notes)
        versions_path = os.path.join(args.captures, "versions")
        versions = open(versions_path, encoding="utf-8").read().strip() if os.path.exists(versions_path) else ""
        text, page = render(args.captures, notes, versions)
    except (NotesError, OSError, KeyError, ValueError, subprocess.SubprocessError) as e:
        print("illustrate.py: %s" % e, file=sys.stderr)
        return 1
    if args.fields:
        for (field, sender, message), (scenario, label) in page.drawn.items():
            print("%s @ %s %s\t%s\t%s" % (field, sender, message, scenario, label))
        return 0
    problems = ["no note for %s" % m for m in dict.fromkeys(page.missing)]
    problems += ["%s:%d: the note [%s] names a field or section that the captures do not have"
                 % (notes.path, notes.line[k], k) for k in notes.unused()]
    if problems:
        for p in problems:
            print("illustrate.py: %s" % p, file=sys.stderr)
        print("illustrate.py: %d problem(s) with %s; the page was not written" % (len(problems), notes.path),
              file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "index.html"), "w", encoding="utf-8") as f:
        f.write(text)
    print("illustrate.py: wrote %s" % os.path.join(args.out, "index.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
