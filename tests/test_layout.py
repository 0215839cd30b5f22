"""Guards for the source layout: platform/ is a source root, not a package."""

from tests.support.paths import ROOT


def test_standard_platform_module_is_not_shadowed():
    import platform
    import uuid

    assert platform.system()
    assert uuid.uuid4()


def test_source_root_has_no_init():
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert (ROOT / "platform" / "xuetang" / "__init__.py").exists()


def test_rules_import_neither_flask_nor_peewee():
    for module in (ROOT / "platform" / "xuetang" / "rules").glob("*.py"):
        text = module.read_text()
        for banned in ("import flask", "from flask", "import peewee", "from peewee", "playhouse"):
            assert banned not in text, f"{module.name} imports {banned}"


def test_htmx_is_served_locally_with_license():
    assert (ROOT / "static" / "js" / "htmx-2.0.11.min.js").exists()
    assert (ROOT / "static" / "js" / "htmx-LICENSE.txt").exists()
    base = (ROOT / "templates" / "base.html").read_text()
    assert "htmx-2.0.11.min.js" in base and "//unpkg" not in base and "cdn" not in base.lower()
