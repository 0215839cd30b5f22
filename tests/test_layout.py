"""Guards for the layout: platform/ is a source root, not a package; the plain-Python packages stay
plain; modules stay small; signals are wired in one place; every test folder is a package."""

import pytest

from tests.support.paths import ROOT

PACKAGE = ROOT / "platform" / "xuetang"
MAX_MODULE_LINES = 400


def test_standard_platform_module_is_not_shadowed():
    import platform
    import uuid

    assert platform.system()
    assert uuid.uuid4()


def test_source_root_has_no_init():
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert (ROOT / "platform" / "xuetang" / "__init__.py").exists()


@pytest.mark.parametrize("package", ["rules", "face", "video"])
def test_plain_python_packages_import_neither_flask_nor_peewee(package):
    modules = sorted((PACKAGE / package).rglob("*.py"))
    assert modules, f"xuetang/{package} has no modules"
    for module in modules:
        text = module.read_text()
        for banned in ("import flask", "from flask", "import peewee", "from peewee", "playhouse"):
            assert banned not in text, f"{module.relative_to(PACKAGE)} contains {banned!r}"


def test_no_module_exceeds_the_line_limit():
    too_long = {str(module.relative_to(PACKAGE)): lines
                for module in sorted(PACKAGE.rglob("*.py"))
                if (lines := len(module.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not too_long, f"over {MAX_MODULE_LINES} lines, split by area: {too_long}"


def test_views_wire_no_signals():
    # Services that talk through a signal are connected in wiring.py, where a reader finds the link.
    wired = [str(module.relative_to(PACKAGE)) for module in sorted((PACKAGE / "web").rglob("*.py"))
             if ".connect(" in module.read_text()]
    assert not wired, f"signal wiring in web/ (belongs in wiring.py): {wired}"


def test_every_test_folder_is_a_package():
    # tests/ is a package, so each folder needs an __init__.py to keep module names unique.
    folders = [path for path in (ROOT / "tests").rglob("*") if path.is_dir() and any(path.glob("*.py"))]
    assert folders
    for folder in folders:
        assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"


def test_htmx_is_served_locally_with_license():
    assert (ROOT / "static" / "js" / "htmx-2.0.11.min.js").exists()
    assert (ROOT / "static" / "js" / "htmx-LICENSE.txt").exists()
    base = (ROOT / "templates" / "base.html").read_text()
    assert "htmx-2.0.11.min.js" in base and "//unpkg" not in base and "cdn" not in base.lower()
