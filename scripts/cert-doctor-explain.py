#!/usr/bin/env python3
"""cert-doctor-explain.py 'TEXT': which failure modes of the failure atlas print TEXT?

    scripts/cert-doctor.sh explain 'curl: (56) ... tlsv13 alert certificate required, errno 0'
    scripts/cert-doctor.sh explain '127.0.0.1:40312 rejected CN=x issued by CN=y: certificate has expired; answered 403'

TEXT is what a learner pastes: a client's error line or a line of chapter 03's log. The answer
names the rows of docs/failure-atlas.md that produce it, most likely first, each with its id and
what goes wrong in plain words, then the one command that tells those candidates apart. It reads
docs/failure-atlas.json (made by `make atlas` from real runs), so the atlas and this answer cannot
disagree.

Real messages differ from the atlas's in ports, addresses, hex codes, OpenSSL's error codes and
file:line parts, and from one version of a client to the next in wording ("sslv3 alert bad
certificate", "tlsv13 alert certificate required", "remote error: tls: bad certificate",
"Received fatal alert: bad_certificate"). So both the atlas's texts and the pasted one are
normalised (lowercase, numbers and addresses masked, `_` and `-` read as spaces), then reduced to
key phrases: TLS alert names (in any stack's spelling, or by number), certificate verification
reasons (OpenSSL's, Go's, Java's, Node's, NSS's and Chromium's words for the same reason), and
where the text comes from (a client that got an answer, a server refusal, a local error). A row
scores by the key phrases one of its cells shares with TEXT; the words the two have in common
break ties. Exit status: 0 when TEXT is in the atlas, 1 when it is not, 2 for a usage error.
"""
import functools
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATLAS = os.environ.get("FAILURE_ATLAS_JSON", os.path.join(ROOT, "docs", "failure-atlas.json"))

ALERT_NUMBERS = {
    "40": "handshake failure", "42": "bad certificate", "43": "unsupported certificate",
    "44": "certificate revoked", "45": "certificate expired", "46": "certificate unknown",
    "48": "unknown ca", "49": "access denied", "51": "decrypt error", "116": "certificate required",
}

# Key phrases: (name, weight, patterns on the normalised text). A pattern is a regular expression.
# The weights: 5 for a reason that points at one failure, 3 for an alert, 1 for a hint of where
# the text comes from.
#
# An alert is named where a client says it *received* one (`sslv3 alert ...`, `remote error: tls:
# ...`, `Received fatal alert: ...`, NSS's `..._ALERT`): the server refused the client's side of
# the handshake. Chapter 03's log lines "handshake failed: the client ..." are alerts the server
# received; they are reasons seen from the other side, and match the server rows.
A = r"(alert|\btls:|fatal alert:)( number \d+| \[\d+\]:?)? ?"   # Go: "remote error: tls: NAME"
PHRASES = [
    # TLS alerts a client received, as OpenSSL, Go, Java, Node.js, GnuTLS, NSS (Firefox) and
    # Chromium spell them.
    ("alert:certificate required", 3, [A + r"certificate (is )?required", r"certificate required alert"]),
    ("alert:handshake failure", 3, [A + r"handshake fail", r"handshake failure alert"]),
    ("alert:bad certificate", 3, [A + r"bad certificate", r"bad cert alert", A + r"error in the certificate"]),
    ("alert:unknown ca", 3, [A + r"unknown (ca|certificate authority)", r"unknown ca alert"]),
    ("alert:decrypt error", 3, [A + r"decrypt(ion)? (error|failed)", r"decrypt error alert"]),
    ("alert:certificate unknown", 3, [A + r"certificate unknown", r"certificate unknown alert"]),
    ("alert:certificate expired", 3, [A + r"(certificate expired|expired certificate)", r"expired cert alert"]),
    ("alert:certificate revoked", 3, [A + r"(certificate revoked|revoked certificate)", r"revoked cert alert"]),
    ("alert:unsupported certificate", 3, [A + r"unsupported certificate", r"unsupported cert alert"]),
    ("alert:access denied", 3, [A + r"access denied", r"access denied alert"]),
    # Chromium's word for "the server refused my client certificate (or the lack of one)".
    ("alert:client auth", 3, [r"bad ssl client auth cert"]),
    # Verification reasons.
    ("reason:unknown issuer", 5, [r"unable to get local issuer", r"unknown authority", r"unknown issuer",
                                  r"unable to verify the first certificate", r"unable to verify leaf signature",
                                  r"valid certification path", r"pkix path building", r"authority invalid",
                                  r"issuer (is )?unknown", r"not trusted", r"does not trust the ca",
                                  r"self signed certificate in certificate chain"]),
    ("reason:expired", 5, [r"has expired", r"\bexpired certificate", r"certificate expired", r"is after",
                           r"date invalid", r"validity check failed", r"expired or is not yet valid",
                           r"chain uses expired"]),
    ("reason:not yet valid", 5, [r"not yet valid", r"is before", r"date invalid", r"validity check failed",
                                 r"expired or is not yet valid", r"not yet activated"]),
    ("reason:purpose", 5, [r"purpose", r"extended key usage", r"key usage", r"\beku\b", r"unsupported certificate"]),
    ("reason:self signed", 5, [r"self signed certificate(?! in)", r"self signed(?! certificate in)",
                               r"issued by cn=(\S+) .*\1"]),
    ("reason:invalid ca", 5, [r"invalid ca certificate", r"basic constraints", r"not a ca\b", r"ca:false",
                              r"issuer.*not.*ca"]),
    ("reason:revoked", 5, [r"revoked"]),
    ("reason:revoked in chain", 5, [r"revoked \(in its chain", r"revoked.*intermediate", r"intermediate.*revoked"]),
    ("reason:crl expired", 5, [r"crl has expired", r"crl .*expired", r"crl .*next ?update"]),
    ("reason:no crl", 5, [r"unable to get certificate crl", r"crl not found"]),
    ("reason:intermediate", 2, [r"intermediate"]),
    ("reason:key mismatch", 5, [r"key values mismatch", r"private key does not match", r"does not match the certificate",
                                r"unable to set private key", r"check private key", r"bad signature",
                                r"no cert.*matches private key", r"key does not match"]),
    ("reason:name mismatch", 5, [r"hostname mismatch", r"host ?name", r"not valid for", r"altnames?",
                                 r"subject alternative", r"common name invalid", r"bad cert domain",
                                 r"name mismatch", r"name in the certificate does not match",
                                 r"certificate is valid for", r"no alternative certificate subject name",
                                 r"ip address mismatch", r"doesn't match", r"no name matching", r"does not match target host",
                                 r"rejected our certificate"]),
    ("reason:no certificate", 5, [r"sent no certificate", r"did not return a certificate", r"no certificate",
                                  r"pass \-\-cert", r"pass cert and key"]),
    # Where the text comes from.
    ("from:403", 3, [r"\b403\b", r"forbidden", r"response code failure", r"page: \(empty\)"]),
    ("from:200", 1, [r"\b200\b", r"hello world", r"^trusted cn=|\btrusted cn="]),
    ("accepted", 3, [r"hello world", r"(^|\s)trusted cn=", r"get / http/1\.1\" 200"]),
    ("from:server refusal", 1, [r"rejected cn=", r"answered 403"]),
    ("from:server handshake", 1, [r"handshake failed:"]),
    ("from:client verify", 1, [r"certificate verify failed", r"ssl certificate problem", r"verification failed",
                               r"server certificate", r"x509:", r"cert verify", r"sec error", r"err cert",
                               r"pkix", r"ssl error bad cert domain", r"certificate is not trusted",
                               r"altname", r"no subject alternative"]),
    ("from:remote alert", 1, [r"alert", r"remote error"]),
    ("from:local error", 1, [r"unable to set", r"does not match", r"mismatch", r"x509 certificate routines"]),
    ("from:connection lost", 1, [r"socket not connected", r"connection reset", r"econnreset", r"closed the connection",
                                 r"unexpected eof"]),
]
# A received alert says the server refused the client's side of the handshake, and often why: it
# stands for that refusal and for the reason (the words another version of the client, or another
# server, would have used for the same refusal).
REFUSED = ("family:refused in the handshake", 3)
IMPLIED = {
    "alert:certificate required": ["reason:no certificate"],
    "alert:handshake failure": [],
    "alert:bad certificate": [],
    "alert:certificate unknown": [],
    "alert:access denied": [],
    "alert:client auth": [],
    "alert:unknown ca": ["reason:unknown issuer", "from:server refusal"],
    "alert:certificate expired": ["reason:expired", "from:server refusal"],
    "alert:certificate revoked": ["reason:revoked", "from:server refusal"],
    "alert:unsupported certificate": ["reason:purpose", "from:server refusal"],
    "alert:decrypt error": ["reason:key mismatch"],
}
COMPILED = [(name, weight, [re.compile(p) for p in patterns]) for name, weight, patterns in PHRASES]

# The command that tells a set of candidates apart, by the kind of rows among them.
NEXT_STEP = {
    "server": "scripts/cert-doctor.sh SERVER.crt --for server --host HOST  (the server's certificate: "
              "save it with `openssl s_client -connect HOST:PORT -showcerts </dev/null`; the doctor "
              "names the wrong host name, the unknown issuer or the past date)",
    "client": "scripts/cert-doctor.sh CLIENT.crt --key CLIENT.key --crl CRL  (the client's certificate "
              "as chapter 03 judges it: issuer, chain, dates, purpose, CA flags, key and revocation, one "
              "line each; without --crl if the server has none)",
    "no-certificate": "openssl s_client -connect HOST:PORT -cert CLIENT.crt -key CLIENT.key </dev/null "
                      "| grep -A3 'Acceptable client certificate CA names'  (the CAs the server asks for: "
                      "a client that holds no certificate from one of them sends none), then "
                      "scripts/cert-doctor.sh CLIENT.crt --key CLIENT.key",
    "accepted": "scripts/cert-doctor.sh CLIENT.crt --ca CA-FILE-OF-THE-SERVER  (what the server's --ca "
                "trusts: a bundle such as the system's trusts far more than your CA)",
}


def normalise(text):
    """Lowercase; numbers, addresses, hex and paths masked; `_` and `-` as spaces; an alert's
    number also as its name."""
    t = text.lower()
    # LibreSSL and old OpenSSL builds without error strings: reason(1000 + the alert's number)
    t = re.sub(r"reason\(1(\d{3})\)", lambda m: "alert number %d" % int(m.group(1)), t)
    for number, name in ALERT_NUMBERS.items():
        t = re.sub(r"(alert number %s|alert \[%s\])" % (number, number), r"\1 %s" % name, t)
    t = re.sub(r"(?<![\w/])(/[\w.+-]+)+", " path ", t)                    # file names
    t = re.sub(r"\b[\w.-]+\.(c|cc|java|go|js|py):\d+", " src ", t)         # file:line
    t = re.sub(r"\b(localhost|\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+", r"\1:port", t)
    t = re.sub(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{8,}\b", " hex ", t)            # pointers, error:0A000418
    t = re.sub(r"\berror:[0-9a-f]+:", "error:", t)
    t = t.replace("_", " ").replace("-", " ")
    # Go's HTTP client when a 403 comes before it has written its request (the atlas's page, "Cells
    # that vary"): the 403 it did not show.
    t = t.replace("readlooppeekfaillocked: <nil>", "readlooppeekfaillocked: <nil> (answered 403 forbidden)")
    t = re.sub(r"\s+", " ", t).strip()
    return t


WEIGHTS = {name: weight for name, weight, _ in PHRASES}


@functools.lru_cache(maxsize=None)   # the atlas's texts are scored against every pasted one
def phrases(text):
    t = normalise(text)
    found = {name: weight for name, weight, patterns in COMPILED if any(p.search(t) for p in patterns)}
    if "handshake failed:" in t:
        # chapter 03's log: an alert named there is one the *client* sent (about our certificate)
        found = {name: weight for name, weight in found.items() if not name.startswith("alert:")}
    for name in list(found):
        if name in IMPLIED:
            if name not in ("alert:decrypt error",):
                found[REFUSED[0]] = REFUSED[1]
            for implied in IMPLIED[name]:
                found[implied] = WEIGHTS[implied]
    return found


@functools.lru_cache(maxsize=None)
def words(text):
    return set(w for w in re.findall(r"[a-z][a-z]{2,}", normalise(text))
               if w not in {"the", "and", "for", "port", "path", "hex", "src", "error", "http", "get"})


def score(pasted_phrases, pasted_words, text):
    """How well one text of the atlas matches the pasted text: the weight of the key phrases they
    share, less half the weight of those the pasted text has and this one lacks; the share of
    words in common breaks ties."""
    if not text:
        return None
    these = phrases(text)
    shared = sum(w for name, w in pasted_phrases.items() if name in these)
    missing = sum(w for name, w in pasted_phrases.items() if name not in these)
    extra = sum(w for name, w in these.items() if name not in pasted_phrases and w >= 5)
    mine = words(text)
    overlap = len(pasted_words & mine) / max(1, len(pasted_words | mine))
    return shared - 0.5 * missing - 0.25 * extra + 2 * overlap, shared, overlap


def explain(pasted, atlas):
    pasted_phrases, pasted_words = phrases(pasted), words(pasted)
    rows = {r["id"]: r for r in atlas["rows"]}
    clients = {c["id"]: c["name"] for c in atlas["clients"]}
    scored = []   # (row, client, score, shared)
    for cell in atlas["cells"]:
        if "not_run" in cell:
            continue
        message = cell.get("message")
        if cell.get("client") == "go" and "readLoopPeekFailLocked" in (message or ""):
            # Go's early-403 error (the atlas's "Cells that vary") stands for the 403 of any row
            # where chapter 03 answers one, not for the row this run happened to see it in.
            message = "403 Forbidden"
        for text in (message, cell.get("server_log")):
            s = score(pasted_phrases, pasted_words, text)
            if s:
                scored.append((cell["row"], cell["client"], s[0], s[1]))
    best = {}   # row -> [score, cells at that score, clients near it, shared weight]
    for row, client, value, shared in scored:
        entry = best.setdefault(row, [value, 0, set(), shared])
        if value > entry[0]:
            entry[0], entry[3] = value, shared
    for row, client, value, shared in scored:
        if abs(value - best[row][0]) <= 1e-9:
            best[row][1] += 1
        if value >= best[row][0] - 0.5:
            best[row][2].add(client)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], -kv[1][1], list(rows).index(kv[0])))
    recognised = ranked and (ranked[0][1][3] >= 3 or (ranked[0][1][3] >= 1 and ranked[0][1][0] >= 1.5))
    if not recognised:
        return False, ["explain: not in the atlas: no failure mode of docs/failure-atlas.md prints "
                       "this text (or words close enough to it).",
                       "next: scripts/cert-doctor.sh CERT  (checks the certificate: issuer, chain, dates, "
                       "purpose, CA flags; add --key KEY, or --for server --host HOST for a server's)"]
    top = ranked[0][1][0]
    # The candidates: every row within reach of the best (a row that scores far lower is another story).
    # (Every row that ties with the best is named, however many: the text alone cannot choose.)
    candidates = [(row, e) for row, e in ranked if e[0] >= top - 1.0 and e[0] > 0]
    ties = sum(1 for _, e in candidates if top - e[0] <= 0.35)
    candidates = candidates[:max(ties, 5)]
    lines = ["explain: this text comes from these failure modes of docs/failure-atlas.md, most likely first:"]
    for n, (row, e) in enumerate(candidates, 1):
        seen = ", ".join(clients.get(c, c) for c in sorted(e[2], key=list(clients).index))
        lines.append("  %d. %s: %s (seen from %s)" % (n, row, rows[row]["what"], seen))
    same = [row for row, e in candidates if top - e[0] <= 0.35]
    if len(same) > 3:
        lines.append("  (%d failure modes print text this close; chapter 03's log line for the connection, "
                     "or the command below, tells them apart)" % len(same))
    sides = {rows[row]["side"] for row, _ in candidates}
    if candidates[0][0] == "no-certificate" or (sides == {"client"} and "no-certificate" in dict(candidates)):
        step = NEXT_STEP["no-certificate"]
    elif len(sides) == 1:
        step = NEXT_STEP[sides.pop()]
    else:
        step = NEXT_STEP[rows[candidates[0][0]]["side"]]
    lines.append("next: " + step)
    return True, lines


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: scripts/cert-doctor.sh explain 'TEXT'   (a client's error line or a line of "
              "chapter 03's log)", file=sys.stderr if len(sys.argv) < 2 else sys.stdout)
        sys.exit(2 if len(sys.argv) < 2 else 0)
    pasted = " ".join(sys.argv[1:])
    try:
        with open(ATLAS) as f:
            atlas = json.load(f)
    except (OSError, ValueError) as problem:
        print("cert-doctor.sh explain: cannot read the atlas %s: %s (make atlas makes it)" % (ATLAS, problem),
              file=sys.stderr)
        sys.exit(2)
    found, lines = explain(pasted, atlas)
    print("\n".join(lines))
    sys.exit(0 if found else 1)


if __name__ == "__main__":
    main()
