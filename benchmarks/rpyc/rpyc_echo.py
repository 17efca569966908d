"""RPyC 5.3 peer for keyway's payload benchmark (benchmarks/src/payload-echo.ts).

Two processes, as the benchmark runs every server in a process of its own:

  rpyc_echo.py server          starts an RPyC ThreadedServer on 127.0.0.1 port 0 and
                               prints {"port": N}; serves echo(bytes), add(a, b) and cpu()
  rpyc_echo.py client PORT     connects, then reads one JSON command per stdin line and
                               answers one JSON line per command

A command is {"cell": "echo", "bytes": N, "seconds": S} or
{"cell": "calls", "width": W, "seconds": S} (W = 1 is sequential round trips; W > 1 is
batches of W rpyc.async_ results). The answer: {"ops", "seconds", "clientCpuMicros",
"serverCpuMicros"}, CPU being user + system time of each whole process over the window.
Every loop is bounded by a count and a time budget.

Both ends set TCP_NODELAY, as every Node variant of the benchmark does: RPyC's default
leaves Nagle's algorithm on, and then the small tail of a message it sends in 64,000-byte
pieces waits for a delayed ACK (about 40 ms per echo of 64 KiB on Linux).
"""
import json
import os
import socket
import sys
import threading
import time

import rpyc
from rpyc.core.stream import SocketStream
from rpyc.utils.factory import connect_stream
from rpyc.utils.server import ThreadedServer

# A 16 MiB echo takes well under a second; this bounds a cell whatever the budget.
MAX_OPS = 5_000_000


class PayloadService(rpyc.Service):
    def exposed_echo(self, data):
        return data

    def exposed_add(self, a, b):
        return a + b

    def exposed_cpu(self):
        return time.process_time()


class NoDelayServer(ThreadedServer):
    def _accept_method(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._accept_method(sock)


def serve():
    server = NoDelayServer(PayloadService, hostname="127.0.0.1", port=0,
                            protocol_config={"allow_public_attrs": False,
                                             "sync_request_timeout": 120})
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    while not server.active:
        time.sleep(0.01)
    print(json.dumps({"port": server.port, "peer": f"rpyc-{rpyc.__version__}"}), flush=True)
    # The parent closes our stdin to stop us.
    sys.stdin.read()
    server.close()


def run_cell(conn, command):
    root = conn.root
    budget = float(command["seconds"])
    if command["cell"] == "echo":
        payload = os.urandom(int(command["bytes"]))

        def op():
            back = root.echo(payload)
            if len(back) != len(payload) or back[-1] != payload[-1]:
                raise RuntimeError("echo returned other bytes")
            return 1
    else:
        width = int(command["width"])
        add = root.add
        async_add = rpyc.async_(add)

        if width == 1:
            def op():
                if add(1, 2) != 3:
                    raise RuntimeError("add(1, 2) != 3")
                return 1
        else:
            def op():
                results = [async_add(i, 1) for i in range(width)]
                for r in results:
                    r.wait()
                if results[-1].value != width:
                    raise RuntimeError("async add returned the wrong sum")
                return width

    # Warm-up: one operation, and a little more for the small ones.
    warm_until = time.perf_counter() + min(0.3, budget / 4)
    op()
    while time.perf_counter() < warm_until:
        op()
    server_cpu = root.cpu()
    client_cpu = time.process_time()
    start = time.perf_counter()
    ops = 0
    while ops < MAX_OPS:
        ops += op()
        if time.perf_counter() - start >= budget:
            break
    seconds = time.perf_counter() - start
    client_used = time.process_time() - client_cpu
    server_used = root.cpu() - server_cpu
    return {"ops": ops, "seconds": seconds, "clientCpuMicros": client_used * 1e6,
            "serverCpuMicros": server_used * 1e6}


def client(port):
    stream = SocketStream.connect("127.0.0.1", port, nodelay=True)
    conn = connect_stream(stream, config={"sync_request_timeout": 120})
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            answer = run_cell(conn, json.loads(line))
        except Exception as error:  # reported to the parent, which skips the cell
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)
    conn.close()


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "server":
        serve()
    elif len(sys.argv) >= 3 and sys.argv[1] == "client":
        client(int(sys.argv[2]))
    else:
        sys.exit("usage: rpyc_echo.py server | client PORT")


if __name__ == "__main__":
    main()
