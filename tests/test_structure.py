"""The package's structure: README's Layout names every module, and no module imports a
private module (or private name) of another package. The import direction itself is
checked by import-linter (``make lint``, ``[tool.importlinter]`` in pyproject.toml)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("research", "hydra_plugins")


def _layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1]


def _sections(block: str) -> dict[str, str]:
    """The Layout's entries under ``research/``: ``"engine"`` -> its lines, ``""`` -> the
    lines of top-level modules."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in block.splitlines():
        entry = re.match(r"^  (\w+)/\s", line + " ")
        if entry:
            current = entry.group(1)
            sections.setdefault(current, [])
        elif re.match(r"^  \S", line):
            current = ""
        elif not line.startswith(" "):
            current = "<other>"
        sections.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def _modules() -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "__init__.py"
    )


def test_the_readme_layout_names_every_module():
    sections = _sections(_layout())
    missing = []
    for path in _modules():
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "hydra_plugins":
            found = str(Path(*rel.parts[1:])) in sections.get("<other>", "")
        elif len(rel.parts) == 2:  # research/<module>.py
            found = re.search(rf"^  (.*[ ,])?{re.escape(rel.name)}\b", sections[""], re.M)
        else:  # research/<package>/<module>.py
            found = re.search(rf"\b{re.escape(rel.name)}\b", sections.get(rel.parts[1], ""))
        if not found:
            missing.append(str(rel))
    assert not missing, f"README's Layout does not name: {missing}"


def test_the_layout_check_finds_a_missing_module():
    sections = _sections(_layout())
    assert re.search(r"\bdevices\.py\b", sections["engine"])
    assert not re.search(r"\bdevices\.py\b", sections["port"])  # named under engine/ only
    assert "lasso.py" in sections[""] and "engine" in sections


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every import in ``path``; name is None for ``import module``."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def _private_owner(module: str, name: str | None) -> str | None:
    """The package that owns a private part of ``module`` (or of ``module.name``), if any."""
    parts = module.split(".") + ([name] if name else [])
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def private_imports() -> list[str]:
    bad = []
    for path in ROOT.joinpath("research").rglob("*.py"):
        importer = _module_name(path)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for module, name in _imports(path):
            if module.split(".")[0] not in PACKAGES:
                continue
            owner = _private_owner(module, name)
            if owner is not None and not (package + ".").startswith(owner + "."):
                bad.append(f"{importer}: {module}{'.' + name if name else ''}")
    return bad


def test_no_module_imports_a_private_module_of_another_package():
    assert private_imports() == []


def test_the_private_import_check_tells_own_package_from_another():
    assert (
        _private_owner("research.regularizers._base", "soft_threshold") == "research.regularizers"
    )
    assert _private_owner("research.port._model", None) == "research.port"
    assert _private_owner("research.results", "flat_paths") is None
    assert _private_owner("research", "_lasso_kernels") == "research"
