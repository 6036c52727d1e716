#!/usr/bin/env python3
"""Slow and hostile clients for tests/test_slow_clients.sh (loopback only).

    slow-clients.py one-byte  PORT SOURCE COUNT HOLD
    slow-clients.py strangers PORT SOURCE COUNT HOLD CA CERT KEY
    slow-clients.py hello     PORT SOURCE COUNT HOLD
    slow-clients.py late-certificate PORT CA CERT KEY WAIT

The first three open COUNT connections from the address SOURCE (e.g. 127.0.0.2), one after the
other, and hold them HOLD seconds at most (or until killed), sending nothing more:
  one-byte   each sends one byte (the first byte of a TLS record) and waits;
  strangers  each completes a TLS handshake with CERT (a certificate the server does not trust),
             reads what the server sends (its 403) until it closes, and stays silent;
  hello      each sends a real ClientHello (made by Python's ssl module in memory) and never
             answers the server's reply.
They print "ready N" once all COUNT are made, N being how many connected (the server may close
some at once: --max-per-address), then "closed N" as they exit.

late-certificate: a TLS 1.3 client with CERT that receives the server's whole flight (its
CertificateRequest included) and then waits WAIT seconds, as a person choosing a certificate in a
browser's dialog would, before it sends its certificate, then GET /. Prints the status line.
"""

import select
import socket
import ssl
import sys
import time


def connect(port, source, timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def hold(sockets, seconds):
    """Waits until every socket is closed by the server, or seconds have passed."""
    print("ready %d" % len(sockets), flush=True)
    open_sockets = list(sockets)
    end = time.monotonic() + seconds
    while open_sockets and time.monotonic() < end:
        ready, _, _ = select.select(open_sockets, [], [], min(1.0, max(0.0, end - time.monotonic())))
        for s in ready:
            try:
                data = s.recv(65536)
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                open_sockets.remove(s)
    print("closed %d" % (len(sockets) - len(open_sockets)), flush=True)


def one_byte(port, source, count, seconds):
    sockets = []
    for _ in range(count):
        try:
            s = connect(port, source)
            s.sendall(b"\x16")
            sockets.append(s)
        except OSError:
            pass
    hold(sockets, seconds)


def strangers(port, source, count, seconds, ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    sockets = []
    for _ in range(count):
        try:
            tls = ctx.wrap_socket(connect(port, source), server_hostname="localhost")
            # Read (non-blocking) whatever has come: the 403, and then nothing is sent.
            tls.setblocking(False)
            sockets.append(tls)
        except (OSError, ssl.SSLError):
            pass
    # The raw descriptors: once the TLS connection is over, only the TCP end is waited for.
    raw = []
    for tls in sockets:
        try:
            while tls.recv(65536):
                pass
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError):
            pass
        raw.append(socket.socket(fileno=tls.detach()))
    hold(raw, seconds)


def client_hello(ctx):
    """A real ClientHello, as Python's ssl module sends it (a new random each time)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def hello(port, source, count, seconds):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sockets = []
    for _ in range(count):
        try:
            s = connect(port, source)
            s.sendall(client_hello(ctx))
            sockets.append(s)
        except OSError:
            pass
    hold(sockets, seconds)


def late_certificate(port, ca, cert, key, wait):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    s = socket.create_connection(("127.0.0.1", port), timeout=wait + 15)
    # In TLS 1.3 the client's handshake is over once it has read the server's flight (ServerHello
    # to Finished, the CertificateRequest among them) and written its own: Certificate,
    # CertificateVerify, Finished. They wait in `outgoing` while the "person" chooses.
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(outgoing.read())
            data = s.recv(65536)
            if not data:
                sys.exit("the server closed the connection during the handshake")
            incoming.write(data)
    time.sleep(wait)
    tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    try:
        s.sendall(outgoing.read())
    except OSError as e:
        sys.exit("the server had closed the connection: %s" % e)
    answer = b""
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            answer += chunk
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            break
        except ssl.SSLError as e:
            sys.exit("TLS error after the wait: %s (so far: %r)" % (e, answer))
        try:
            data = s.recv(65536)
        except OSError as e:
            sys.exit("the connection failed after the wait: %s" % e)
        if not data:
            break
        incoming.write(data)
    print(answer.split(b"\r\n")[0].decode("latin-1") if answer else "no answer")


def main(argv):
    mode, port = argv[1], int(argv[2])
    if mode == "one-byte":
        one_byte(port, argv[3], int(argv[4]), float(argv[5]))
    elif mode == "strangers":
        strangers(port, argv[3], int(argv[4]), float(argv[5]), argv[6], argv[7], argv[8])
    elif mode == "hello":
        hello(port, argv[3], int(argv[4]), float(argv[5]))
    elif mode == "late-certificate":
        late_certificate(port, argv[3], argv[4], argv[5], float(argv[6]))
    else:
        sys.exit("unknown mode: %s" % mode)


if __name__ == "__main__":
    main(sys.argv)
