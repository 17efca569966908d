"""RPyC 5.3 peer for keyway's call benchmark (benchmarks/src/server-calls.ts).

Starts an RPyC ThreadedServer on 127.0.0.1 (plain, or SSL when given a key and
certificate), connects a client in the same process, and prints one JSON line per
measurement: sequential round-trip calls/s and calls/s with 100 calls in flight
(rpyc.async_). Every loop is bounded by a count and a time budget.
"""
import json
import sys
import threading
import time

import rpyc
from rpyc.utils.authenticators import SSLAuthenticator
from rpyc.utils.server import ThreadedServer


class Calculator(rpyc.Service):
    def exposed_add(self, a, b):
        return a + b


def measure_sequential(add, budget_s, max_calls):
    n = 0
    start = time.perf_counter()
    while n < max_calls and time.perf_counter() - start < budget_s:
        add(n, 1)
        n += 1
    return n / (time.perf_counter() - start)


def measure_in_flight(add, budget_s, max_calls, width=100):
    async_add = rpyc.async_(add)
    n = 0
    start = time.perf_counter()
    while n < max_calls and time.perf_counter() - start < budget_s:
        results = [async_add(i, 1) for i in range(width)]
        for r in results:
            r.wait()
        n += width
    return n / (time.perf_counter() - start)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    keyfile = sys.argv[3] if len(sys.argv) > 3 else None
    certfile = sys.argv[4] if len(sys.argv) > 4 else None
    auth = SSLAuthenticator(keyfile, certfile) if mode == "ssl" else None
    server = ThreadedServer(Calculator, hostname="127.0.0.1", port=0, authenticator=auth,
                            protocol_config={"allow_public_attrs": False})
    threading.Thread(target=server.start, daemon=True).start()
    while not server.active:
        time.sleep(0.01)
    port = server.port
    if mode == "ssl":
        conn = rpyc.ssl_connect("127.0.0.1", port, keyfile=keyfile, certfile=certfile)
    else:
        conn = rpyc.connect("127.0.0.1", port)
    add = conn.root.add
    measure_sequential(add, 0.3, 2000)  # warm-up
    seq = measure_sequential(add, budget, 2_000_000)
    par = measure_in_flight(add, budget, 2_000_000)
    print(json.dumps({"peer": f"rpyc-{rpyc.__version__}-{mode}", "sequential": seq, "inflight100": par}))
    conn.close()
    server.close()


if __name__ == "__main__":
    main()
