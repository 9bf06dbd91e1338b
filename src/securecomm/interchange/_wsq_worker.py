"""WSQ decoding worker, run as a separate process by ``images.py``.

Why a separate process: the NBIS WSQ decoder inside the ``wsq`` package
corrupts its heap and aborts the whole interpreter on some corrupt streams
(seen with byte-flipped files). A booking with a bad image must be rejected
with an ERRT, not take the server down, so the C decoder only ever runs here.

Protocol on stdin/stdout: request = 4-byte big-endian length + WSQ bytes;
reply = b"K" + width, height, ppi (3 x 4-byte big-endian signed) + pixels, or
b"E" + 4-byte length + UTF-8 message.
"""

import os
import struct
import sys


def main() -> None:
    import _wsq  # the NBIS codec; imported here only

    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    # silence the C library's diagnostics (they go to fd 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack(">I", head)
        buf = inp.read(n)
        try:
            pixels, w, h, ppi = _wsq.decompress(buf)
            if not isinstance(pixels, (bytes, bytearray)) or len(pixels) != w * h:
                raise ValueError(f"decoder returned {len(pixels)} bytes for {w}x{h}")
            out.write(b"K" + struct.pack(">iii", w, h, ppi) + bytes(pixels))
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent
            msg = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:1000]
            out.write(b"E" + struct.pack(">I", len(msg)) + msg)
        out.flush()


if __name__ == "__main__":
    main()
