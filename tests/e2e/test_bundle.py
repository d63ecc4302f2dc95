"""Tailor.app's build, checked where py2app cannot build it (it builds only on macOS): setup_app.py runs, what
it names exists and imports, its py2app command gets past pyproject's dependencies, and the app's own
executable started with the worker flag runs a worker. py2app's executable stub exists only in a built
bundle: a shell script that runs the main script with its arguments stands in for it, and says so."""

import importlib
import importlib.util
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QLibraryInfo
from setuptools.dist import Distribution

from macapp import jobs
from macapp.engine import bundle
from tests.helpers import REPO, fake_commands

SETUP = runpy.run_path(str(REPO / "setup_app.py"))  # the module's names, without building anything


def test_help_commands_runs_and_offers_py2app():
    result = subprocess.run([sys.executable, "setup_app.py", "--help-commands"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "py2app" in result.stdout


def test_every_file_it_names_exists():
    assert (REPO / SETUP["MAIN"]).is_file()
    assert (REPO / SETUP["ICON"]).read_bytes()[:4] == b"icns"
    copied = dict(SETUP["RESOURCES"])
    assert copied.pop("") == ["README.md"]  # the guide links to it
    for folder, files in copied.items():
        there = sorted(p.name for p in (REPO / folder).iterdir() if p.is_file())
        assert sorted(Path(f).name for f in files) == there and all((REPO / f).is_file() for f in files)
    assert {"replies.jsonl", "held_out_comments.jsonl"} <= {Path(f).name for f in copied["resources/demo"]}
    assert "docs/guide.md" in copied["docs"]  # the Help menu's guide, offline, with its pictures
    assert "resources/screenshots/1-check.png" in copied["resources/screenshots"]


def test_the_plist_says_what_macos_needs():
    plist = SETUP["plist"]("1.2.3")
    assert plist["CFBundleIdentifier"] == "app.tailor.Tailor" and plist["CFBundleShortVersionString"] == "1.2.3"
    assert plist["LSMinimumSystemVersion"] == "14.0"
    assert plist["LSAppNapIsDisabled"] is True and plist["NSHighResolutionCapable"] is True


def test_every_package_it_copies_imports_and_mlx_keeps_its_library_folder():
    for name in SETUP["PACKAGES"]:
        importlib.import_module(name)
    mlx_lib = Path(importlib.util.find_spec("mlx").submodule_search_locations[0]) / "lib"
    assert list(mlx_lib.glob("libmlx.*")), "the mlx package is copied whole, so its lib folder goes with it"
    if sys.platform == "darwin":
        assert (mlx_lib / "mlx.metallib").exists()


def test_the_qt_plugins_it_names_exist():
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    for name in SETUP["QT_PLUGINS"]:
        if name == "styles" and sys.platform != "darwin":
            continue  # macOS's style is a plugin only in the Mac build of Qt
        assert (plugins / name).is_dir(), name


def py2app_command(command_class):
    """The py2app command as `setup_app.py py2app` makes it, with pyproject's dependencies read in."""
    dist = Distribution({"app": [{"script": SETUP["MAIN"], "dest_base": "Tailor"}],
                         "cmdclass": {"py2app": command_class}, "options": {"py2app": SETUP["options"]("1.0")}})
    dist.parse_config_files()
    assert dist.install_requires  # what makes py2app refuse to build
    return dist.get_command_obj("py2app")


def test_the_command_gets_past_py2apps_refusal_of_install_requires(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(Exception, match="install_requires is no longer supported"):
        py2app_command(SETUP["py2app"]).ensure_finalized()
    command = py2app_command(SETUP["BuildApp"])
    command.ensure_finalized()
    assert command.distribution.install_requires == []
    assert command.qt_plugins == SETUP["QT_PLUGINS"] and "mlx" in command.packages
    assert command.plist["LSAppNapIsDisabled"] and command.iconfile == SETUP["ICON"]


def test_a_built_bundle_is_checked(tmp_path):
    app = tmp_path / "Tailor.app"
    assert len(SETUP["bundle_problems"](app)) == 4
    lib = app / "Contents/Resources/lib/python3.12/mlx/lib"
    lib.mkdir(parents=True)
    (lib / "libmlx.dylib").touch()
    for folder in ("Contents/Resources/qt_plugins/platforms", "Contents/Resources/resources/demo"):
        (app / folder).mkdir(parents=True)
    (app / "Contents/Resources/qt_plugins/platforms/libqcocoa.dylib").touch()
    (app / "Contents/Resources/docs").mkdir()
    (app / "Contents/Resources/docs/guide.md").touch()
    assert SETUP["bundle_problems"](app) == [f"mlx.metallib is not beside {lib / 'libmlx.dylib'}: MLX could not "
                                             "use the GPU"]
    (lib / "mlx.metallib").touch()
    assert SETUP["bundle_problems"](app) == []


@pytest.fixture
def inside_app(tmp_path, monkeypatch):
    """This process as if it ran inside Tailor.app, with a stand-in for the app's executable."""
    fake_commands(tmp_path, Tailor=f'exec {sys.executable} {REPO / SETUP["MAIN"]} "$@"\n')
    executable = tmp_path / "Tailor"
    monkeypatch.setattr(sys, "frozen", "macosx_app", raising=False)
    monkeypatch.setenv("EXECUTABLEPATH", str(executable))
    monkeypatch.setenv("RESOURCEPATH", str(REPO))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    return executable


def test_inside_the_app_workers_are_the_app_itself(inside_app, tmp_path):
    assert bundle.inside_app() and bundle.resources() == REPO / "resources" and bundle.docs() == REPO / "docs"
    job = jobs.CheckJob(run=str(jobs.scratch_folder("check")))
    process = jobs.start(job)
    assert process.args[:2] == [str(inside_app), bundle.WORKER_FLAG]
    events = list(jobs.events(process))
    assert process.returncode == 0 and events[-1]["type"] == "done"
    assert "Training engine" in {check["name"] for check in events[-1]["result"]["checks"]}

    data = tmp_path / "data.json"
    data.write_text('{"b": 1}')
    result = subprocess.run([*bundle.python(), "-m", "json.tool", str(data)], capture_output=True, text=True)
    assert bundle.python() == [str(inside_app), bundle.PYTHON_FLAG]
    assert result.returncode == 0 and json.loads(result.stdout) == {"b": 1}
