"""Every name a package advertises through samlabel.lazy resolves to the object its module defines."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["samlabel.sam", "samlabel.sam.compat", "samlabel.gui.docks", "samlabel.gui.dialogs"])
def test_every_advertised_name_resolves(package):
    pkg = importlib.import_module(package)
    assert pkg.__all__ and sorted(dir(pkg)) == sorted(pkg.__all__)
    for name, module in pkg._EXPORTS.items():
        assert getattr(pkg, name) is getattr(importlib.import_module(module), name), name


def test_unknown_name_raises_attribute_error_naming_the_package():
    import samlabel.sam

    with pytest.raises(AttributeError, match="samlabel.sam.*no_such_name"):
        samlabel.sam.no_such_name  # noqa: B018
