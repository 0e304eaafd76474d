"""The README's pytest example, run as written (against this run's cloud
rather than the default address), so the example stays true."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    intro = text.index("A pytest suite on a clean")
    block = re.search(r"```python\n(.*?)```", text[intro:], re.S)
    assert block, "the README's pytest example is missing"
    return block.group(1)


def test_the_readme_pytest_example_passes(oxstack):
    code = readme_example().replace("http://127.0.0.1:8774", oxstack.base_url)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    tests = [f for name, f in scope.items() if name.startswith("test_")]
    assert tests, "the example defines no test"
    for test in tests:
        test()
