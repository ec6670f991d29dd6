"""Course conventions: every notebook is stripped, parameterised, ruff clean and on the map."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from geolib.course import (
    COURSE_MAP,
    REPO_URL,
    check_notebook,
    course_notebooks,
    format_table,
    key_results,
    ruff_problems,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(ROOT / "notebooks")
GOOD = ROOT / "notebooks" / "00_welcome_and_setup.ipynb"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_conventions(notebook):
    assert check_notebook(notebook) == []


def test_notebooks_are_ruff_clean():
    assert ruff_problems(NOTEBOOKS) == {}


def test_every_notebook_is_on_the_course_map_and_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    planned = {lesson.filename for lesson in COURSE_MAP}
    for notebook in NOTEBOOKS:
        assert notebook.name in planned, f"{notebook.name} is missing from geolib.course.COURSE_MAP"
        assert f"notebooks/{notebook.name}" in readme, f"README does not link {notebook.name}"


def _mutated(tmp_path, name="00_mutated.ipynb", change=None):
    nb = json.loads(GOOD.read_text())
    change(nb)
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


def test_checker_flags_outputs(tmp_path):
    def add_output(nb):
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
        cell["execution_count"] = 1

    problems = check_notebook(_mutated(tmp_path, change=add_output))
    assert any("carries outputs" in p for p in problems)


def test_checker_flags_missing_parameters_cell(tmp_path):
    def untag(nb):
        for cell in nb["cells"]:
            cell.get("metadata", {}).pop("tags", None)

    assert "no code cell is tagged 'parameters'" in check_notebook(_mutated(tmp_path, change=untag))


def test_checker_flags_bad_name_bootstrap_and_sys_path(tmp_path):
    def spoil(nb):
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code[0]["source"] = "print('no bootstrap')"
        code[-1]["source"] = "import sys\nsys.path.append('..')"

    problems = check_notebook(_mutated(tmp_path, "Welcome.ipynb", change=spoil))
    assert any("NN_snake_case" in p for p in problems)
    assert any("Colab bootstrap" in p for p in problems)
    assert any("sys.path" in p for p in problems)


def test_ruff_flags_a_notebook_that_is_not_clean(tmp_path):
    def unused_import(nb):
        nb["cells"].append(
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "id": "x1",
                "source": "import json\nx = 1",
            }
        )

    path = _mutated(tmp_path, change=unused_import)
    found = ruff_problems([path])
    assert any(msg.startswith("F401") for msg in found[str(path)])


def test_all_bootstraps_share_the_repo_url():
    for notebook in NOTEBOOKS:
        first_code = next(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
        assert REPO_URL in "".join(first_code["source"])


def test_key_results_are_collected_from_display_metadata():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {},
                        "metadata": {
                            "geolib_key_result": {"label": "country accuracy", "value": "0.91", "unit": ""}
                        },
                    }
                ],
            }
        ]
    }
    assert key_results(nb) == ["country accuracy = 0.91"]
    assert key_results(copy.deepcopy({"cells": []})) == []


def test_format_table_aligns_columns():
    table = format_table([["a", "1"], ["long name", "22"]], ["name", "n"])
    lines = table.splitlines()
    assert lines[0].startswith("name       n") and len({len(line.rstrip()) for line in lines[2:]}) >= 1
    assert re.match(r"^-{9}  -{2}$", lines[1])


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make course" in readme


def test_cli_help_and_doctor():
    help_text = subprocess.run(
        [sys.executable, "-m", "geolib", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("doctor", "course", "models"):
        assert command in help_text
    doctor = subprocess.run([sys.executable, "-m", "geolib", "doctor"], capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert re.search(r"^profile\s+tiny$", doctor.stdout, re.M)
    assert "sentence-encoder" in doctor.stdout


def test_cli_reports_user_errors_without_traceback():
    result = subprocess.run([sys.executable, "-m", "geolib", "course", "99"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "no notebook" in result.stderr and "starts with '99'" in result.stderr
    assert "Traceback" not in result.stderr
