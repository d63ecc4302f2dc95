"""Build Tailor.app with py2app on macOS: `make app` (that is, `python setup_app.py py2app`), into dist/.

Everything the bundle needs is named here; tests/e2e/test_bundle.py checks on any machine that it exists.
"""

import importlib.metadata
from pathlib import Path

from py2app.build_app import py2app
from setuptools import setup

HERE = Path(__file__).resolve().parent
MAIN = "macapp/bundle_main.py"  # opens the window; with --worker runs a job, so workers are the app itself
ICON = "resources/icons/Tailor.icns"
# The demo's data; the guides the Help menu opens, with the screenshots they show, so that they work offline.
RESOURCES = [(folder, sorted(str(p.relative_to(HERE)) for p in (HERE / folder).iterdir() if p.is_file()))
             for folder in ("resources/demo", "docs", "resources/screenshots")] + [("", ["README.md"])]
BUNDLE_ID = "app.tailor.Tailor"
MINIMUM_MACOS = "14.0"  # MLX's Metal wheels are built for macOS 14 and later
# Copied into the bundle as they are, not zipped: mlx keeps mlx.metallib beside libmlx.dylib in mlx/lib
# (MLX finds its Metal kernels there), PySide6 its Qt libraries, the others their data files.
PACKAGES = ["macapp", "mlx", "mlx_lm", "PySide6", "shiboken6", "pyqtgraph", "numpy", "transformers", "tokenizers",
            "safetensors", "sentencepiece", "huggingface_hub", "jinja2", "yaml", "psutil", "platformdirs",
            "pyarrow", "certifi", "keyring", "pypdf", "docx", "bs4", "python_calamine", "numbers_parser",
            "charset_normalizer"]
QT_PLUGINS = ["platforms", "styles", "imageformats", "iconengines"]  # the Cocoa platform, macOS style, PNG/SVG
EXCLUDES = ["tkinter", "torch", "llama_cpp", "convert_hf_to_gguf", "pytest"]  # the GGUF tools are not bundled


def plist(version: str) -> dict:
    return {
        "CFBundleName": "Tailor",
        "CFBundleDisplayName": "Tailor",
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSMinimumSystemVersion": MINIMUM_MACOS,
        "LSArchitecturePriority": ["arm64"],
        "LSAppNapIsDisabled": True,  # App Nap would slow the window's polling of a long run's events
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,  # follows Dark Mode
        "LSApplicationCategoryType": "public.app-category.developer-tools",
        "NSHumanReadableCopyright": "Tailor: fine-tune an open language model on your Mac.",
    }


def options(version: str) -> dict:
    return {"iconfile": ICON, "plist": plist(version), "packages": PACKAGES, "qt_plugins": QT_PLUGINS,
            "excludes": EXCLUDES, "argv_emulation": False, "arch": "arm64"}


def bundle_problems(app: Path) -> list[str]:
    """What a built Tailor.app lacks that would only show when someone opens it."""
    problems = []
    libraries = list(app.glob("Contents/Resources/lib/python*/mlx/lib/libmlx.dylib"))
    if not libraries:
        problems.append("mlx/lib/libmlx.dylib is missing: mlx must be copied as a package")
    elif not (libraries[0].parent / "mlx.metallib").exists():
        problems.append(f"mlx.metallib is not beside {libraries[0]}: MLX could not use the GPU")
    if not (app / "Contents/Resources/qt_plugins/platforms/libqcocoa.dylib").exists():
        problems.append("Qt's Cocoa platform plugin is missing: the window could not open")
    if not (app / "Contents/Resources/resources/demo").is_dir():
        problems.append("the demo's data is missing")
    if not (app / "Contents/Resources/docs/guide.md").is_file():
        problems.append("the guide is missing: the Help menu would open nothing")
    return problems


class BuildApp(py2app):
    """py2app, with two mends: setuptools fills `install_requires` from pyproject's dependencies, which
    py2app 0.28.9 and later refuse (py2app issue 560): the bundle carries its packages itself. And the
    built bundle is checked before it is called done."""

    def finalize_options(self):
        self.distribution.install_requires = []
        super().finalize_options()

    def run(self):
        super().run()
        app = Path(self.dist_dir) / "Tailor.app"
        problems = bundle_problems(app)
        if problems:
            raise SystemExit(f"{app} is incomplete:\n  " + "\n  ".join(problems))
        print(f"Built {app}")


if __name__ == "__main__":
    try:
        VERSION = importlib.metadata.version("tailor")
    except importlib.metadata.PackageNotFoundError:
        VERSION = "0.0.0"  # the checkout is not installed; `make app` installs it first
    setup(app=[{"script": MAIN, "dest_base": "Tailor"}], data_files=RESOURCES, options={"py2app": options(VERSION)},
          cmdclass={"py2app": BuildApp})
