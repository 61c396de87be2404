#!/usr/bin/env python3
"""A tiny HTTP(S) server for djinn-consumer's download tests (stdlib only).

Listens on 127.0.0.1 (port 0 unless --port), prints "PORT <n>" on stdout, and exits when
its standard input closes (the test process closed its end or died), so that it never
outlives the tests; then it deletes --cleanup DIR, if given. Routes (GET; `size` in bytes):

  /image.qcow2?size=N        200 application/x-qemu-disk, a qcow2-looking body of N bytes
  /auth/image.qcow2?size=N   the same behind basic auth (--user/--password), else 401
  /wrong-type?size=N         200 text/plain, qcow2 body
  /not-qcow2?size=N          200 application/x-qemu-disk, a body without the qcow2 magic
  /empty                     200 application/x-qemu-disk, no body
  /missing                   404
  /error                     500
  /cut?size=N&after=M        Content-Length N, M bytes sent, then the connection closes
  /unsized?size=N            qcow2 body without Content-Length, ended by closing
  /slow?size=N&chunk=C&delay=S   qcow2 body of N bytes, C bytes every S seconds
  /redirect?to=LOCATION      302 to LOCATION (relative or absolute, as given)
  /loop                      302 to itself
"""
import argparse
import base64
import os
import shutil
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAGIC = bytes([0x51, 0x46, 0x49, 0xFB])
QEMU = "application/x-qemu-disk"


def qcow2_body(size):
    """MAGIC then a repeating pattern; the i-th byte of the body is always the same."""
    pattern = bytes(i % 251 for i in range(4096))
    body = bytearray(MAGIC[:size])
    while len(body) < size:
        body += pattern[: size - len(body)]
    return bytes(body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "djinn-test"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, status, content_type, body, length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        size = int(query.get("size", "65536"))
        path = url.path
        if path == "/image.qcow2":
            self.send_body(200, QEMU, qcow2_body(size))
        elif path == "/auth/image.qcow2":
            expected = base64.b64encode(f"{self.server.user}:{self.server.password}".encode()).decode()
            if self.headers.get("Authorization") != "Basic " + expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="images"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_body(200, QEMU, qcow2_body(size))
        elif path == "/wrong-type":
            self.send_body(200, "text/plain", qcow2_body(size))
        elif path == "/not-qcow2":
            self.send_body(200, QEMU, b"\x00" * size)
        elif path == "/empty":
            self.send_body(200, QEMU, b"")
        elif path == "/missing":
            self.send_body(404, "text/plain", b"not found\n")
        elif path == "/error":
            self.send_body(500, "text/plain", b"internal error\n")
        elif path == "/cut":
            after = int(query.get("after", str(size // 2)))
            self.send_response(200)
            self.send_header("Content-Type", QEMU)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(qcow2_body(size)[:after])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/unsized":
            self.send_response(200)
            self.send_header("Content-Type", QEMU)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(qcow2_body(size))
            self.close_connection = True
        elif path == "/slow":
            chunk = int(query.get("chunk", "4096"))
            delay = float(query.get("delay", "0.1"))
            body = qcow2_body(size)
            self.send_response(200)
            self.send_header("Content-Type", QEMU)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                for start in range(0, size, chunk):
                    self.wfile.write(body[start : start + chunk])
                    self.wfile.flush()
                    time.sleep(delay)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        elif path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/image.qcow2"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_body(404, "text/plain", b"no such route\n")


def exit_when_stdin_closes(cleanup):
    while sys.stdin.buffer.read(4096):
        pass
    if cleanup:
        shutil.rmtree(cleanup, ignore_errors=True)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--cleanup", help="a directory to delete on exit (the test's scratch files)")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.user = args.user
    server.password = args.password
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=exit_when_stdin_closes, args=(args.cleanup,), daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
