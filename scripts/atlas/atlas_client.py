#!/usr/bin/env python3
"""atlas_client.py ssl|requests: the Python clients of the failure atlas
(scripts/failure-atlas.py): the ssl module alone, or requests. One process runs every case.

Each line on stdin is one case, tab-separated: URL CA CERT KEY VERSION (CERT and KEY empty for no
client certificate; VERSION 1.2 or 1.3). For each, one line on stdout, tab-separated: STATUS (the
HTTP status, or empty), CLASS (the exception's class, or empty), MESSAGE (str() of the exception,
or empty).
"""
import socket
import ssl
import sys
from urllib.parse import urlsplit

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def with_ssl(url, ca, cert, key, version):
    """GET with the ssl module and a socket: the handshake and one HTTP/1.1 exchange."""
    parts = urlsplit(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = VERSIONS[version]
    context.load_verify_locations(ca)
    if cert:
        context.load_cert_chain(cert, key)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % parts.hostname.encode())
            answer = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                answer += chunk
    status = answer.split(b"\r\n", 1)[0].split(b" ")
    return status[1].decode() if len(status) > 1 else ""


def with_requests(url, ca, cert, key, version):
    """GET with requests, through an adapter whose SSL context allows only the case's version."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.ssl_ import create_urllib3_context

    class OneVersion(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            context = create_urllib3_context()
            context.minimum_version = context.maximum_version = VERSIONS[version]
            kwargs["ssl_context"] = context
            return super().init_poolmanager(*args, **kwargs)

    with requests.Session() as session:   # a session per case: no connection is reused
        session.mount("https://", OneVersion())
        response = session.get(url, verify=ca, cert=(cert, key) if cert else None, timeout=10)
        return str(response.status_code)


def main():
    get = {"ssl": with_ssl, "requests": with_requests}[sys.argv[1]]
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        try:
            result = (get(*fields), "", "")
        except Exception as error:   # what the program would see: its class and its text
            kind = type(error)
            result = ("", "%s.%s" % (kind.__module__, kind.__qualname__), str(error))
        print("\t".join(" ".join(part.split()) for part in result), flush=True)


if __name__ == "__main__":
    main()
