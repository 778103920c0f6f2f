"""Issue 11, finding 3: a connection flood against `irsa serve`.

Opens N silent TCP connections (from A loopback addresses, N/A each), then
times `/healthz` on a fresh connection during the flood, and reads the
server's RSS before, at peak and 5 s after the flood is closed.

    IRSA_BIN=target/release/irsa python3 bench/connection_flood.py [N] [A]
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

from common import free_port, rss, wait_port


def healthz(port, timeout=10.0):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(64)
            ok = data.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    return ok, time.monotonic() - started


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    addresses = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    binary = os.environ.get("IRSA_BIN", "target/release/irsa")
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        server = subprocess.Popen(
            [binary, "serve", "--data-dir", d, "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            before, _ = rss(server.pid)
            socks = []
            refused = 0
            for i in range(n):
                s = socket.socket()
                s.setblocking(True)
                s.bind((f"127.0.{1 + i % addresses // 250}.{2 + i % addresses % 250}", 0))
                try:
                    s.connect(("127.0.0.1", port))
                    socks.append(s)
                except OSError:
                    refused += 1
                    s.close()
            time.sleep(1)
            answers = [healthz(port) for _ in range(5)]
            during, peak = rss(server.pid)
            for s in socks:
                s.close()
            time.sleep(5)
            after, peak = rss(server.pid)
            ok = sum(1 for a, _ in answers if a)
            slowest = max(t for _, t in answers)
            print(
                f"connections={n} addresses={addresses} connect_refused={refused} "
                f"healthz_ok={ok}/5 slowest={slowest * 1000:.1f}ms "
                f"rss_before={before:.1f}MB rss_during={during:.1f}MB rss_peak={peak:.1f}MB rss_after={after:.1f}MB"
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
