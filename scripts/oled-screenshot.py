#!/usr/bin/env python3
"""Boot the LM3S6965 firmware headless in QEMU and save what its OLED shows as a PNG.

    python3 scripts/oled-screenshot.py ELF OUT.png [--presses N]

ELF is what `scripts/firmware-build.sh` prints. The picture is QEMU's 512x256 console (the 128x64
OLED, 4x magnified, grey level n as RGB 0x11*n), taken after the firmware's first `FRAME` line, or
after N presses of `up` (the counter view of a conditional model). Hand-written over the standard
library: a QMP client is three JSON lines on a Unix socket.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf")
    ap.add_argument("out")
    ap.add_argument("--presses", type=int, default=0, help="press `up` this many times first")
    a = ap.parse_args()
    if not os.path.isfile(a.elf):
        print(f"oled-screenshot: no ELF at {a.elf}", file=sys.stderr)
        return 2
    out = os.path.abspath(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        sock_path = os.path.join(tmp, "qmp.sock")
        qemu = subprocess.Popen(
            ["qemu-system-arm", "-machine", "lm3s6965evb", "-icount", "shift=0",
             "-display", "none", "-serial", "null", "-monitor", "none",
             "-semihosting-config", "enable=on,target=native",
             "-qmp", f"unix:{sock_path},server=on,wait=off", "-kernel", a.elf],
            stdout=subprocess.PIPE, text=True)
        try:
            frames = 0
            want = 1 + a.presses
            qmp = None
            blob_error = None
            for line in qemu.stdout:
                if line.startswith("BLOB ERROR"):
                    # The firmware draws its error screen and stops: capture that, then fail.
                    blob_error = line.strip()
                    qmp = Qmp(sock_path)
                    break
                if line.startswith("FRAME"):
                    frames += 1
                    if qmp is None:
                        qmp = Qmp(sock_path)
                    if frames == want:
                        break
                    # Pressed, then released 100 ms later (buttons act on release).
                    qmp.call("send-key", {"keys": [{"type": "qcode", "data": "up"}]})
            else:
                print("oled-screenshot: QEMU exited before the frame", file=sys.stderr)
                return 1
            time.sleep(0.3)  # the frame line is printed as the last pixels go out
            reply = qmp.call("screendump", {"filename": out, "format": "png"})
            if "error" in reply:
                print(f"oled-screenshot: screendump failed: {reply['error']}", file=sys.stderr)
                return 1
            if blob_error:
                print(f"oled-screenshot: the firmware says {blob_error}; its error screen is in {out}",
                      file=sys.stderr)
                return 1
        finally:
            qemu.kill()
            qemu.wait()
    print(out)
    return 0


class Qmp:
    """A minimal QMP session: the greeting, `qmp_capabilities`, then one reply per command."""

    def __init__(self, path: str):
        for _ in range(100):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.sock.makefile("rw")
        self.f.readline()
        self.call("qmp_capabilities")

    def call(self, command: str, arguments=None) -> dict:
        msg = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply or "error" in reply:
                return reply


if __name__ == "__main__":
    sys.exit(main())
