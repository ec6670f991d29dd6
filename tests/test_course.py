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


def test_every_notebook_links_its_neighbours_at_both_ends():
    from geolib.course import navigation

    assert navigation("00").startswith("**Previous:** [the course map](../README.md#course-map)")
    assert navigation("03") == (
        "**Previous:** [02 · Locatability](02_locatability.ipynb) · "
        "**Next:** [04 · LoRA stage 1: reasoning](04_lora_stage1_reasoning.ipynb)"
    )
    assert navigation("07").endswith("**Next:** [the course map](../README.md#course-map)")
    with pytest.raises(Exception, match="no lesson '99'"):
        navigation("99")
    for notebook in NOTEBOOKS:  # every link points at a notebook that exists
        for target in re.findall(r"\]\((\d{2}_[a-z0-9_]+\.ipynb)\)", navigation(notebook.name[:2])):
            assert (ROOT / "notebooks" / target).is_file(), target


def test_checker_flags_missing_links_and_a_last_cell_that_is_not_what_you_learned(tmp_path):
    def unlink(nb):
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                source = "".join(cell["source"])
                cell["source"] = re.sub(r"\*\*Previous:\*\*.*", "", source)

    problems = check_notebook(_mutated(tmp_path, change=unlink))
    assert any("first markdown cell lacks the links" in p for p in problems)
    assert any("'## What you learned'" in p for p in problems)

    def appendix(nb):
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "id": "x2", "source": "## Appendix"})

    assert any("'## What you learned'" in p for p in check_notebook(_mutated(tmp_path, change=appendix)))


def test_checker_wants_rising_exercises_with_a_prediction_and_every_solution(tmp_path):
    def flatten(nb):
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                source = "".join(cell["source"])
                source = source.replace("(harder; predict, then run)", "").replace(
                    "### Solution 3", "### Answer"
                )
                cell["source"] = source

    problems = check_notebook(_mutated(tmp_path, change=flatten))
    assert "no exercise labelled '(predict, then run)'" in problems
    assert "the last exercise is not labelled '(harder)'" in problems
    assert "exercise 3 has no '### Solution 3'" in problems


def test_doctor_lists_what_the_full_profile_still_needs():
    from geolib.doctor import environment_report, format_report, full_profile_gaps

    gaps = full_profile_gaps({"cuda": False})
    assert any(gap.startswith("no CUDA GPU") and "Colab" in gap for gap in gaps)
    # every registered checkpoint missing from the hub cache is named, with why it cannot download here
    from geolib import profiles
    from geolib.hubcache import cached_snapshot

    missing = [s.hub_id for s in profiles.registered().values() if cached_snapshot(s.hub_id) is None]
    if missing:
        absent = next(gap for gap in gaps if "checkpoints are not in" in gap)
        assert all(hub_id in absent for hub_id in missing) and "HF_HUB_OFFLINE" in absent
    assert any(
        "7.8 GiB, less than" in gap for gap in full_profile_gaps({"cuda": True, "gpu_memory_gib": 7.8})
    )
    assert not any("less than" in gap for gap in full_profile_gaps({"cuda": True, "gpu_memory_gib": 39.4}))
    text = format_report(environment_report())
    assert re.search(r"^full profile: (ready|\d+ things to do first)$", text, re.M)


def test_readme_map_notebook_00_and_the_guide_show_the_latest_make_course_summary():
    from geolib.course import course_map_table

    summary = json.loads((ROOT / "docs" / "course_summary.json").read_text())
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "instructor_guide.md").read_text()
    assert (
        course_map_table(summary) in readme
    )  # regenerate with: geolib course --map docs/course_summary.json
    runs = {run["notebook"]: run for run in summary["notebooks"]}
    assert set(runs) == {lesson.filename for lesson in COURSE_MAP} and all(run["ok"] for run in runs.values())
    for lesson in COURSE_MAP:
        minutes = round(runs[lesson.filename]["seconds"] / 60, 1)
        assert lesson.cpu_minutes == minutes, lesson.filename  # what notebook 00 prints
        assert f"| {lesson.number} · {lesson.title} | {minutes:.1f} |" in guide, lesson.filename
    assert not any(build["built"] for build in summary["assets"])  # the latest run: after unpacking the kit


def test_course_map_table_refuses_a_summary_without_timings():
    from geolib.course import course_map_table
    from geolib.errors import GeolibError

    with pytest.raises(GeolibError, match="notebook entry 0"):
        course_map_table({"notebooks": [{"notebook": "00_welcome_and_setup.ipynb", "seconds": "soon"}]})
    table = course_map_table({"notebooks": [{"notebook": "00_welcome_and_setup.ipynb", "seconds": 90}]})
    assert "| 1.5 min |" in table and table.count("not measured") == len(COURSE_MAP) - 1
