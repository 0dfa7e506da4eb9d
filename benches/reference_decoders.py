#!/usr/bin/env python3
"""Reference decoders for `qrpos bench decode`: zxing-cpp and zbar, timed in-process.

Usage: reference_decoders.py DIR
DIR holds 0000.pgm, 0001.pgm, ... (binary PGM, the same greyscale images qrpos decodes).
Prints one JSON object per decoder on stdout:
  {"decoder": "zxing-cpp 3.1.1", "results": [{"texts": [...], "ms": 0.17}, ...]}
or {"decoder": "zbar", "missing": "how to install it"}.

Why in-process: timing `zbarimg` per file would measure process start and image loading,
not decoding. Both decoders get the image already in memory, as qrpos's own timing does.
zbar is called through pyzbar (ctypes over Debian's libzbar0, the library zbar-tools uses).
"""

import json
import os
import sys
import time


def load_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    # "P5\n<w> <h>\n255\n" as written by qrpos: no comments.
    parts = data.split(b"\n", 3)
    w, h = (int(v) for v in parts[1].split())
    return w, h, parts[3][: w * h]


def main():
    folder = sys.argv[1]
    names = sorted(n for n in os.listdir(folder) if n.endswith(".pgm"))
    images = [load_pgm(os.path.join(folder, n)) for n in names]

    try:
        import numpy as np
        import zxingcpp

        arrays = [np.frombuffer(px, dtype=np.uint8).reshape(h, w) for (w, h, px) in images]
        version = getattr(zxingcpp, "__version__", None)
        if version is None:
            try:
                from importlib.metadata import version as v

                version = v("zxing-cpp")
            except Exception:  # noqa: BLE001 - the version is decoration only
                version = "?"
        results = []
        for a in arrays:
            found, ms = best_of(
                lambda: zxingcpp.read_barcodes(a, formats=zxingcpp.BarcodeFormat.QRCode)
            )
            results.append({"texts": [b.text for b in found], "ms": ms})
        print(json.dumps({"decoder": "zxing-cpp " + version, "results": results}))
    except ImportError:
        print(json.dumps({"decoder": "zxing-cpp", "missing": "pip install zxing-cpp numpy"}))

    try:
        from pyzbar import pyzbar

        results = []
        for (w, h, px) in images:
            found, ms = best_of(
                lambda: pyzbar.decode((px, w, h), symbols=[pyzbar.ZBarSymbol.QRCODE])
            )
            texts = []
            for s in found:
                # zbar hands back bytes it has already transcoded to UTF-8 where it could.
                texts.append(s.data.decode("utf-8", errors="replace"))
            results.append({"texts": texts, "ms": ms})
        print(json.dumps({"decoder": "zbar", "results": results}))
    except ImportError:
        print(
            json.dumps(
                {
                    "decoder": "zbar",
                    "missing": "apt-get install zbar-tools (libzbar0) and pip install pyzbar",
                }
            )
        )


def best_of(decode, runs=3):
    """The result and the fastest of `runs` timings in ms: the same rule as the qrpos side,
    so a scheduling hiccup on one run moves neither median."""
    best = None
    found = None
    for _ in range(runs):
        t = time.perf_counter()
        found = decode()
        ms = (time.perf_counter() - t) * 1000
        best = ms if best is None else min(best, ms)
    return found, best


if __name__ == "__main__":
    main()
