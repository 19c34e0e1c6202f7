import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MUTANTS = {
    "add is wrong": "def add(a, b):\n    return a - b\n\n\ndef divide(a, b):\n    return a / b\n",
    "divide by zero returns 0": (
        "def add(a, b):\n    return a + b\n\n\n"
        "def divide(a, b):\n    return 0 if b == 0 else a / b\n"
    ),
}


def pytest_in(folder):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_calc.py"]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=120)


assert Path("test_calc.py").is_file(), "test_calc.py was not created"
run = pytest_in(".")
assert run.returncode == 0, "test_calc.py does not pass:\n" + run.stdout + run.stderr
for name, source in MUTANTS.items():
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy("test_calc.py", tmp)
        Path(tmp, "calc.py").write_text(source)
        assert pytest_in(tmp).returncode != 0, f"test_calc.py does not notice: {name}"
print("ok")
