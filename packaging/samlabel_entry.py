"""Entry script of the frozen (PyInstaller) build: the same ``samlabel`` command."""

from samlabel.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
