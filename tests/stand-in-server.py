# tests/stand-in-server.py MODE PORT CERT KEY: a server that misbehaves on purpose, for the 04
# client's tests (started by tests/lib.sh's start_stand_in). It stops by itself after 60 s.
#
# Before or instead of TLS:
#   full              listens with a backlog of one and never accepts (start_peer's probe fills it),
#                     so a new connection is never answered
#   silent            accepts and never says anything
#   plain-http        answers like a plain HTTP server: a 400 in clear text, then closes
#   garbage           sends 2000 bytes that are not TLS, then closes
# After the TLS handshake and the request head:
#   tls-mute          never answers
#   tls-record        answers 200 `Hello World!` and prints one line per request:
#                     `sni=NAME host=HOST` (NAME is `none` when the client sent no SNI)
#   cut-body          announces Content-Length: 100, sends 10 bytes, then close_notify and closes
#   cut-body-abruptly the same, then closes the TCP connection without close_notify
#   cut-head          sends half a status line and header, then closes
#   endless-head      sends header lines and never the blank line that ends them
#   trickle           announces 100 bytes and sends one every 0.3 s
#   endless-interim   sends `100 Continue` interim responses without end
#   canned            answers with the response CANNED names for the request's path (see below),
#                     then ends as it says: close_notify, a TCP close without it, or holding on
# TLS handshakes the client must refuse:
#   tls11             speaks TLS 1.1 only (at OpenSSL security level 0, which still allows it)
#   hello-tls11       answers the ClientHello with a hand-made TLS 1.1 ServerHello
#   alert             ends the handshake with a fatal unrecognized_name alert
import os, random, socket, ssl, struct, sys, threading, time, warnings

mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(0 if mode == "full" else 16)
threading.Timer(60, lambda: os._exit(0)).start()
if mode == "full":
    time.sleep(60)

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
names = {}
def note_sni(tls, name, ctx):
    names[id(tls)] = name
    if mode == "alert":
        return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
context.sni_callback = note_sni
if mode == "tls11":
    warnings.simplefilter("ignore", DeprecationWarning)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1

# canned: path -> (the bytes to send, how to end: "close_notify", "abrupt" or "hold").
HELLO = b"Content-Length: 12\r\n\r\nHello World!"
CANNED = {
    "/http-1.0": (b"HTTP/1.0 200 OK\r\n" + HELLO, "close_notify"),
    "/http-1.2": (b"HTTP/1.2 200 OK\r\n" + HELLO, "close_notify"),
    "/http-2.0": (b"HTTP/2.0 200 OK\r\n" + HELLO, "close_notify"),
    "/http-0.9": (b"HTTP/0.9 200 OK\r\n" + HELLO, "close_notify"),
    "/not-http": (b"Hello World!\r\n\r\n", "close_notify"),
    "/two-lengths": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 12\r\n\r\nHello World!",
                     "close_notify"),
    "/same-length-twice": (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n" + HELLO, "close_notify"),
    "/chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nc\r\nHello World!\r\n0\r\n\r\n",
                 "close_notify"),
    "/too-long": (b"HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\nHello World!", "close_notify"),
    "/no-length": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello World!", "close_notify"),
    "/no-length-no-close-notify": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello World!", "abrupt"),
    "/204": (b"HTTP/1.1 204 No Content\r\n\r\n", "hold"),
    "/304": (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n", "hold"),
    "/103": (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n" + HELLO,
             "close_notify"),
    "/101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
             b"HTTP/1.1 200 OK\r\n" + HELLO, "close_notify"),
}

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
held = []  # connections kept open on purpose

def read_head(tls):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(4096)
        if not chunk:
            break
        head += chunk
    return head

def answer(tls, head):
    if mode == "tls-record":
        host = "none"
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line.lower().startswith("host:"):
                host = line[5:].strip()
        print("sni=%s host=%s" % (names.get(id(tls)) or "none", host), flush=True)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nHello World!")
    elif mode == "cut-body":
        tls.sendall(HEAD + b"0123456789")
        tls.unwrap()
    elif mode == "cut-body-abruptly":
        tls.sendall(HEAD + b"0123456789")
    elif mode == "cut-head":
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Len")
    elif mode == "endless-head":
        tls.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            tls.sendall(b"X-Filler: " + b"a" * 100 + b"\r\n")
    elif mode == "trickle":
        tls.sendall(HEAD)
        for _ in range(100):
            time.sleep(0.3)
            tls.sendall(b"x")
    elif mode == "endless-interim":
        while True:
            tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 50)
    elif mode == "canned":
        path = head.split(b" ")[1].decode("latin-1") if head.count(b" ") >= 2 else ""
        response, ending = CANNED.get(path, (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "close_notify"))
        tls.sendall(response)
        if ending == "close_notify":
            tls.unwrap()
        elif ending == "hold":
            held.append(tls)
            return "held"

def serve(conn):
    try:
        conn.settimeout(20)
        if mode == "silent":
            held.append(conn)
            return
        if mode == "plain-http":
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        elif mode == "garbage":
            conn.sendall(random.Random(4).randbytes(2000))
        elif mode == "hello-tls11":
            conn.recv(4096)
            # ServerHello: version 3.2 (TLS 1.1), a random, no session id, AES128-SHA, no compression.
            hello = b"\x03\x02" + os.urandom(32) + b"\x00" + b"\x00\x2f" + b"\x00"
            message = b"\x02" + struct.pack(">I", len(hello))[1:] + hello
            conn.sendall(b"\x16\x03\x02" + struct.pack(">H", len(message)) + message)
            conn.recv(4096)
        else:
            tls = context.wrap_socket(conn, server_side=True)
            head = read_head(tls)
            if mode == "tls-mute":
                held.append(tls)
                return
            if head and answer(tls, head) == "held":
                return
            tls.close()
        conn.close()
    except (OSError, ssl.SSLError):
        conn.close()

while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
