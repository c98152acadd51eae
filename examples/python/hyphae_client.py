#!/usr/bin/env python3
"""Minimal client of the hyphae local application API (docs/spec/app-api.md).

Usage:
    python3 hyphae_client.py [--api 127.0.0.1:7400] listen APP
    python3 hyphae_client.py [--api 127.0.0.1:7400] send APP NODE_ID TEXT
    python3 hyphae_client.py [--api 127.0.0.1:7400] info

Standard library only.
"""
import argparse
import base64
import json
import socket


class Client:
    def __init__(self, addr: str):
        host, port = addr.removeprefix("tcp:").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.file = self.sock.makefile("rwb")
        self.events = []

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("node closed the connection")
        return json.loads(line)

    def call(self, **req):
        self.file.write((json.dumps(req) + "\n").encode())
        self.file.flush()
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
            else:
                if not msg.get("ok"):
                    raise RuntimeError(msg.get("error"))
                return msg

    def next_event(self):
        if self.events:
            return self.events.pop(0)
        return self._read()

    def register(self, app: str) -> int:
        return self.call(op="register", app=app)["app"]

    def send(self, app: str, to: str, data: bytes) -> int:
        return self.call(op="send", app=app, to=to, data=base64.b64encode(data).decode())["send"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api", default="127.0.0.1:7400")
    sub = p.add_subparsers(dest="cmd", required=True)
    listen = sub.add_parser("listen")
    listen.add_argument("app")
    send = sub.add_parser("send")
    send.add_argument("app")
    send.add_argument("to")
    send.add_argument("text")
    sub.add_parser("info")
    args = p.parse_args()
    c = Client(args.api)
    if args.cmd == "info":
        print(json.dumps(c.call(op="info"), indent=2))
    elif args.cmd == "listen":
        print("registered", args.app, "as", c.register(args.app))
        while True:
            e = c.next_event()
            if e["event"] == "delivered":
                print(e["from"], base64.b64decode(e["data"]))
            else:
                print(e)
    elif args.cmd == "send":
        c.register(args.app)
        sid = c.send(args.app, args.to, args.text.encode())
        while True:
            e = c.next_event()
            if e.get("send") == sid:
                print(e)
                break


if __name__ == "__main__":
    main()
