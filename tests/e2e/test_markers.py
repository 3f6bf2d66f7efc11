"""`pytest -m "not e2e"` is the fast unit suite, and it must run where TensorFlow is not installed.

The check runs that selection in a subprocess whose Python cannot import TensorFlow: a
`sitecustomize.py` on PYTHONPATH installs a `sys.meta_path` finder that raises
ModuleNotFoundError for `tensorflow`, `tf_keras`, `keras` and `tensorflow_model_optimization`
(what "not installed" looks like; code that tries TensorFlow and falls back still passes).
The TFLite interpreter (ai_edge_litert) is not TensorFlow and stays importable. Subprocesses the
tests start inherit PYTHONPATH, so they are blocked too. A test that fails or errors there after
trying to import TensorFlow is a test that needs it: mark it `@pytest.mark.e2e` (or the module's
`pytestmark`; a module that imports TensorFlow at import time also needs
`pytest.importorskip("tensorflow")` before that import, since marks only deselect after the
module was imported)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SENTINEL = "TF-BLOCKED"

BLOCKER = textwrap.dedent(f'''
    import os
    import sys

    _BLOCKED = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")
    _LOG = os.environ.get("EDGESEG_TFBLOCK_LOG")


    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] not in _BLOCKED:
                return None
            if _LOG:
                with open(_LOG, "a", encoding="utf-8") as f:
                    f.write(os.environ.get("PYTEST_CURRENT_TEST", "") + "\\t" + name + "\\n")
            raise ModuleNotFoundError("{SENTINEL}: import of %r (TensorFlow is not installed in this check)" % name,
                                      name=name)


    sys.meta_path.insert(0, _NoTensorFlow())
''')

REPORTER = textwrap.dedent('''
    """Writes each test's (and each collector's) failure, with its text, to a JSON-lines file."""
    import json
    import os


    def _write(nodeid, when, text):
        with open(os.environ["EDGESEG_TFBLOCK_RESULTS"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"nodeid": nodeid, "when": when, "text": text}) + "\\n")


    def pytest_runtest_logreport(report):
        if report.failed:
            _write(report.nodeid, report.when, report.longreprtext)


    def pytest_collectreport(report):
        if report.failed:
            _write(report.nodeid, "collect", report.longreprtext)
''')


def run_without_tensorflow(tmp: Path, tests: Path, *extra: str, timeout: int = 600):
    """Runs `pytest -m "not e2e"` over `tests` with TensorFlow unimportable. Returns the
    completed process and {nodeid: why} for every test that failed after trying TensorFlow."""
    site = tmp / "no_tensorflow"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    (site / "tfblock_report.py").write_text(REPORTER)
    log, results = tmp / "blocked.log", tmp / "failures.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # no outer test id, no addopts
    env.update(
        PYTHONPATH=os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        EDGESEG_TFBLOCK_LOG=str(log),
        EDGESEG_TFBLOCK_RESULTS=str(results),
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(REPO / "pyproject.toml"),
        "--rootdir",
        str(REPO),
        "-m",
        "not e2e",
        "-p",
        "no:cacheprovider",
        "-p",
        "tfblock_report",
        "--continue-on-collection-errors",
        "-q",
        "-o",
        "addopts=",
        str(tests),
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

    tried = {}  # test id -> modules it tried to import
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            test, _, module = line.partition("\t")
            tried.setdefault(test.rsplit(" (", 1)[0], set()).add(module)
    needed = {}
    if results.exists():
        for line in results.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            modules = tried.get(r["nodeid"], set())
            if SENTINEL in r["text"] or modules:
                what = ", ".join(sorted(modules)) or next(
                    (ln.strip(" E") for ln in reversed(r["text"].splitlines()) if SENTINEL in ln), "tensorflow"
                )
                needed.setdefault(r["nodeid"], f"{r['when']}: {what}")
    return proc, needed


def test_unit_tests_run_without_tensorflow(tmp_path):
    here = Path(__file__).resolve()
    proc, needed = run_without_tensorflow(tmp_path, here.parents[1], f"--ignore={here}")
    assert proc.returncode in (0, 1), (
        f"pytest without TensorFlow did not run (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert not needed, (
        f'{len(needed)} test(s) selected by `pytest -m "not e2e"` need TensorFlow; mark them '
        '@pytest.mark.e2e (a module: pytestmark = pytest.mark.e2e, plus pytest.importorskip("tensorflow") '
        "before a module-level TensorFlow import):\n"
        + "\n".join(f"  {t}  ({why})" for t, why in sorted(needed.items()))
    )
