"""``run_smoke_test`` against the real main window and the tiny random model (in process;
test_wheel_install.py runs ``samlabel --smoke-test`` from a fresh install)."""

from __future__ import annotations

import re

from samlabel.gui import smoke


def test_smoke_test_passes_with_the_real_window(qapp, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path / "no-checkpoints"))
    monkeypatch.setenv("SAMLABEL_SMOKE_TIMEOUT", "120")
    code = smoke.run_smoke_test()
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert "FAIL" not in out
    assert any(line.startswith("ok: model test_tiny (random weights") for line in lines), out
    assert any(re.fullmatch(r"ok: embedding in \d+\.\d\d s \(.*coffee\.jpg\)", line) for line in lines), out
    # The sample image is 600x400; the mask covers the region the window rendered.
    assert any(re.match(r"ok: prediction in \d+\.\d\d s: \d+x\d+ mask, \d+ px foreground", line) for line in lines), out
    assert lines[-1].startswith("smoke test passed in")
