"""Build Tailor.app with py2app on macOS (`python setup_app.py py2app`).

A placeholder until the packaging work: it names the entry point and nothing else yet.
"""

from setuptools import setup

setup(
    name="Tailor",
    app=["macapp/__main__.py"],
    options={"py2app": {"packages": ["macapp"]}},
)
