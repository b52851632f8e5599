"""README's Layout and docs/ match the tree: every module, package and test they name exists,
every package is in the Layout, and every section the code cites is there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "architecture.md", ROOT / "docs" / "kazoo.md"]
PATH = re.compile(r"`((?:syncd|tests|bench|docs)/[\w/.]+?)(?:::(\w+))?`")


def layout() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Layout") :].split("```")[1]


def test_every_path_and_test_the_docs_name_exists() -> None:
    for doc in DOCS:
        for path, test in PATH.findall(doc.read_text()):
            assert (ROOT / path).exists(), (doc.name, path)
            if test:
                names = {
                    n.name for n in ast.walk(ast.parse((ROOT / path).read_text())) if isinstance(n, ast.FunctionDef)
                }
                assert test in names, (doc.name, path, test)


def test_every_package_is_in_the_layout_and_every_package_it_names_exists() -> None:
    named = set(re.findall(r"^\s{2,4}(\w+)/\s", layout(), re.M))
    packages = {p.parent.relative_to(ROOT / "syncd").as_posix() for p in (ROOT / "syncd").rglob("__init__.py")}
    top = {p for p in packages if "/" not in p and p != "."}
    flows = {p.split("/")[1] for p in packages if p.startswith("flows/") and p.count("/") == 1}
    assert top | flows <= named, (top | flows) - named
    assert named <= top | flows, named - (top | flows)


def test_every_section_the_code_cites_is_there() -> None:
    sections = {}
    for doc in DOCS[1:]:
        text = doc.read_text()
        sections[doc.name] = set(re.findall(r"^## (\d+)\.", text, re.M)) | set(
            re.findall(r"^- (\d+\.\d+) ", text, re.M)
        )
    cited = 0
    for source in [*(ROOT / "syncd").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        for doc, numbers in re.findall(r"docs/(\w+\.md) ((?:§[\d.]+(?:, )?)+)", source.read_text()):
            for number in re.findall(r"§([\d.]+)", numbers):
                cited += 1
                assert number.rstrip(".") in sections[doc], (source.name, doc, number)
    assert cited >= 10
