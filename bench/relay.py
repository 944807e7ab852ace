#!/usr/bin/env python3
"""A byte-counting TCP relay on loopback for bench/wire.sh.

relay.py LISTEN_PORT TARGET_PORT COUNT_FILE: forwards 127.0.0.1:LISTEN_PORT
to 127.0.0.1:TARGET_PORT and keeps "<client-to-server> <server-to-client>"
bytes in COUNT_FILE (rewritten after every chunk).
"""
import socket
import sys
import threading

listen_port, target_port, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
counts = [0, 0]
lock = threading.Lock()


def save():
    with open(count_file, "w") as f:
        f.write(f"{counts[0]} {counts[1]}\n")


def pump(src, dst, i):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            with lock:
                counts[i] += len(data)
                save()
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(64)
save()
while True:
    client, _ = server.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        # The target is down (the bench stops the collector on purpose).
        client.close()
        continue
    threading.Thread(target=pump, args=(client, upstream, 0), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client, 1), daemon=True).start()
