"""`edgeseg --help` (and every command's --help) loads neither TensorFlow nor NumPy nor PIL: the
CLI and the API read light tables only (edgeseg.quantize.recipes, edgeseg.data.tables,
edgeseg.training.config, ...), and the heavy modules are imported inside the functions that
run the work."""

import subprocess
import sys

HEAVY = ("tensorflow", "numpy", "PIL", "pandas", "matplotlib", "ai_edge_litert", "pydantic")

PROBE = """
import sys
from click.testing import CliRunner
from edgeseg.cli import main
runner = CliRunner()
for args in [["--help"], *[[c, "--help"] for c in main.commands], ["data", "synth", "--help"],
             ["devices", "list", "--help"]]:
    res = runner.invoke(main, args)
    assert res.exit_code == 0, (args, res.output)
print(" ".join(m for m in HEAVY if m in sys.modules))
""".replace("HEAVY", repr(HEAVY))


def test_help_of_every_command_loads_no_heavy_module():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"`edgeseg ... --help` imported: {out.stdout.strip()}"


def test_importing_the_api_loads_no_heavy_module():
    code = f"import sys, edgeseg; edgeseg.TrainConfig; edgeseg.BenchConfig; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
