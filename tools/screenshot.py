#!/usr/bin/env python3
"""Screenshots of the real app, and the hover latency, without a display.

    python3 tools/screenshot.py OUT_DIR [--model test_tiny|vit_t|vit_b|...] [--checkpoint FILE]
                               [--image FILE] [--latency N] [--rest-ms MS] [--stream SECONDS]
                               [--size 1920x1080]

Starts the main window (``QT_QPA_PLATFORM=offscreen`` unless a display is set, e.g. under
``xvfb-run``), opens the image (default: the bundled sample), waits for the embedding,
hovers, clicks, accepts and selects, saving a PNG after each step into OUT_DIR. Without
``--checkpoint`` the model has random weights (masks are noise, but every code path and
every timing is real).

With ``--latency N`` it then opens the image resized to ``--size`` (default 1920x1080) and
measures the hover-to-painted-overlay latency over N isolated moves (median, p95), and
again with the mouse resting ``--rest-ms`` (default 200) before each move;
``--stream S`` also moves the mouse at 60 Hz for S seconds and measures what reaches the
screen. The model is built on a thread that ends afterwards, as the app's loader does (a
model built on the UI thread would leave an OpenMP team there that slows the decoder; see
``samlabel.gui.transient_thread``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _spin(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--model", default="test_tiny")
    parser.add_argument("--checkpoint")
    parser.add_argument("--image")
    parser.add_argument("--latency", type=int, default=0, metavar="N")
    parser.add_argument("--rest-ms", type=int, default=200, metavar="MS",
                        help="with --latency, also measure with the mouse resting MS ms before each move (0: skip)")
    parser.add_argument("--stream", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--window", default="1400x900", help="window size WxH")
    args = parser.parse_args(argv)

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="samlabel-shots-"))
    os.environ.setdefault("SAMLABEL_CONFIG_DIR", str(tmp / "config"))
    os.environ.setdefault("SAMLABEL_CACHE_DIR", str(tmp / "cache"))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    from samlabel.sam.runtime.openmp_env import configure_openmp_env

    configure_openmp_env()  # as the app's entry point does: before torch is imported
    from PIL import Image
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    from samlabel.gui.app import create_main_window, default_image
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from window_latency import measure_hover_latency, measure_hover_stream, wait_for_signal
    from samlabel.gui.settings import AppSettings
    from samlabel.gui.tools import Tool
    from samlabel.gui.transient_thread import run_on_transient_thread
    from samlabel.sam.build import build_sam

    t = time.perf_counter()
    model = run_on_transient_thread(lambda: build_sam(args.model, checkpoint=args.checkpoint))
    print(f"model {args.model} built in {time.perf_counter() - t:.1f} s ({model.model_id})", flush=True)
    src = Path(args.image) if args.image else default_image()
    image = tmp / f"shot{src.suffix}"
    image.write_bytes(src.read_bytes())

    win_w, win_h = (int(v) for v in args.window.split("x"))
    window = create_main_window(path=image, sam_model=model, settings=AppSettings(tmp / "config" / "s.ini"))
    window.resize(win_w, win_h)
    window.show()
    window.activateWindow()
    t = time.perf_counter()
    wait_for_signal(window.embeddingReady, 600)
    print(f"embedding ready after {time.perf_counter() - t:.1f} s", flush=True)
    _spin(100)
    window.grab().save(str(out / "01_opened.png"))

    canvas, view = window.canvas, window.canvas.viewport()
    w, h = canvas.image_size
    pos = canvas.mapFromScene(QPointF(w * 0.45, h * 0.45))
    QTest.mouseMove(view, pos)
    wait_for_signal(window.predictionShown, 60)
    _spin(100)
    window.grab().save(str(out / "02_hover.png"))

    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    wait_for_signal(window.predictionShown, 60)
    neg = canvas.mapFromScene(QPointF(w * 0.8, h * 0.2))
    QTest.mouseClick(view, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, neg)
    wait_for_signal(window.predictionShown, 60)
    _spin(100)
    window.grab().save(str(out / "03_clicks.png"))

    t = time.perf_counter()
    accepted = window.accept()
    print(f"accept: {accepted} in {time.perf_counter() - t:.2f} s, {len(window.document.shapes)} shape(s)", flush=True)
    _spin(100)
    window.grab().save(str(out / "04_accepted.png"))
    window.set_tool(Tool.SELECT)
    if window.document.shapes:
        window.editor.set_selection([window.document.shapes[0].uid])
    canvas.zoom_by(3.0, QPointF(pos))
    _spin(100)
    window.grab().save(str(out / "05_selected_zoomed.png"))
    canvas.fit_to_window()

    if args.latency or args.stream:
        bw, bh = (int(v) for v in args.size.split("x"))
        big = tmp / "latency.png"
        Image.open(src).convert("RGB").resize((bw, bh)).save(big)
        window.open_path(big)
        wait_for_signal(window.embeddingReady, 900)
        window.set_tool(Tool.SAM)
        results = {"model": args.model, "image": [bw, bh], "window": [win_w, win_h]}
        if args.latency:
            report = measure_hover_latency(window, n=args.latency)
            print(f"hover latency {bw}x{bh} ({args.model}, window {win_w}x{win_h}): {report.summary()}", flush=True)
            results["isolated"] = {"median_ms": report.median_ms, "p95_ms": report.p95_ms,
                                   "samples_ms": list(report.samples_ms), "worker_ms": list(report.worker_ms)}
            if args.rest_ms > 0:
                report = measure_hover_latency(window, n=args.latency, rest_ms=args.rest_ms)
                print(f"hover latency after {args.rest_ms} ms rests: {report.summary()}", flush=True)
                results[f"after_{args.rest_ms}ms_rest"] = {"median_ms": report.median_ms, "p95_ms": report.p95_ms,
                                                           "samples_ms": list(report.samples_ms)}
        if args.stream:
            report = measure_hover_stream(window, seconds=args.stream)
            print(f"hover stream at 60 Hz {bw}x{bh}: {report.summary()}", flush=True)
            results["stream_60hz"] = {"median_ms": report.median_ms, "p95_ms": report.p95_ms,
                                      "shown": len(report.samples_ms), "superseded": report.dropped}
        (out / "latency.json").write_text(json.dumps(results, indent=1))
        window.grab().save(str(out / "06_latency_image.png"))
    window.shutdown()
    window.close()
    print(f"screenshots in {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
