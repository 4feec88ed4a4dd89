"""The package's architecture, checked: lower layers never import higher ones, no module
imports a private name from another, tests mirror the package, and the root API is lazy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    "singan_augment": REPO / "singan_augment",
    "singan_augment.transforms": REPO / "transforms",
    "singan_augment.pretrained": REPO / "pretrained",
}

# What each part may import from this project (besides itself). The engine sits at the bottom.
ALLOWED = {
    "engine": {"errors"},
    "files": {"engine", "errors", ""},  # "" = the package root (its __version__)
    "data": {"errors"},
    "metrics": {"errors"},
    "tumour": {"errors"},
    "testing": {"engine", "errors"},
    "expansion": {"engine", "files", "data", "metrics", "errors"},
    "pretrained": {"engine", "files", "errors"},
    "transforms": {"engine", "files", "tumour", "errors"},
}


def modules() -> list[tuple[str, Path]]:
    out = []
    for dotted, root in PACKAGE_DIRS.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("").parts
            if dotted == "singan_augment" and rel[0] in ("transforms", "pretrained"):
                continue
            name = ".".join((dotted, *rel)).removesuffix(".__init__")
            out.append((name, path))
    return out


def imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) for every import in the file, nested ones too."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([mod] if mod else []))
            found.append((mod, [a.name for a in node.names]))
    return found


def part(module: str) -> str:
    """singan_augment.engine.fit -> 'engine'; singan_augment.transforms.x -> 'transforms'."""
    rest = module.split(".")[1:]
    return rest[0] if rest else ""


def test_the_walk_finds_the_package():
    names = {n for n, _ in modules()}
    assert {
        "singan_augment.engine.fit",
        "singan_augment.files.pyramid_files",
        "singan_augment.transforms.bridge",
        "singan_augment.pretrained",
    } <= names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_below_it(layer):
    from singan_augment import _WHERE

    bad = []
    for name, path in modules():
        if part(name) != layer:
            continue
        for mod, names in imports(name, path):
            if not mod.startswith("singan_augment"):
                continue
            targets = (
                [part(_WHERE[n]) for n in names if n in _WHERE]
                if mod == "singan_augment"
                else [part(mod)]
            )
            for t in targets:
                if t != layer and t not in ALLOWED[layer]:
                    bad.append(f"{name} imports {mod} ({t})")
    assert not bad, "\n".join(bad)


def test_no_private_names_imported_across_modules():
    bad = []
    for name, path in modules():
        for mod, names in imports(name, path):
            if not mod.startswith("singan_augment") or mod == name:
                continue
            bad += [
                f"{name}: from {mod} import {n}"
                for n in names
                if n.startswith("_") and not n.startswith("__")
            ]
            if any(p.startswith("_") and not p.startswith("__") for p in mod.split(".")):
                bad.append(f"{name}: imports private module {mod}")
    assert not bad, "\n".join(bad)


def test_tests_mirror_the_package():
    """Every test folder names a sub-package (or the transforms adapters)."""
    folders = {
        p.name
        for p in (REPO / "tests").iterdir()
        if p.is_dir() and not p.name.startswith((".", "_"))
    }
    packages = {
        p.name for p in (REPO / "singan_augment").iterdir() if (p / "__init__.py").is_file()
    }
    assert folders - {"__pycache__"} <= packages | {"transforms"}


def test_no_two_test_files_share_a_name():
    names = [p.name for p in (REPO / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names))


def test_root_api_is_lazy_and_complete():
    code = (
        "import sys, singan_augment as s\n"
        "assert 'jax' not in sys.modules, 'importing the package must not import JAX'\n"
        "from singan_augment import fit, sample, inject, harmonize, edit, load_pyramid, save_pyramid, Pyramid\n"
        "from singan_augment import PyramidConfig, ModelConfig, TrainConfig, BlendConfig, LabelDecodeConfig\n"
        "missing = [n for n in s.__all__ if not hasattr(s, n)]\n"
        "assert not missing, missing\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_unknown_root_attribute_raises_attribute_error():
    import singan_augment

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        singan_augment.nope  # noqa: B018
