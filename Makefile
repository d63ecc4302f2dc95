# Set-up and everyday commands. `make run` opens Tailor, `make test` runs the tests; both create
# the environment (.venv) and install the system packages the tests need on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXPORT_STAMP := $(VENV)/.installed-export

# Debian packages: OpenBLAS (MLX's CPU backend is ~50x faster with it), Qt's system libraries,
# Xvfb for drawing windows without a screen, Chromium for the test that opens the HTML report.
DEBIAN_PACKAGES := libopenblas0-pthread xvfb chromium libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: run test screenshots app system-packages clean

run: system-packages $(STAMP)
	$(PY) -m macapp app

test: system-packages $(EXPORT_STAMP)
	$(PY) -m macapp.engine.blas -m pytest

# Draws each step of the window on the demo to resources/screenshots/*.png (under Xvfb on Linux, with
# trayer as the menu bar that shows Tailor's menu-bar item).
screenshots: $(STAMP)
	@$(MAKE) --no-print-directory system-packages DEBIAN_PACKAGES="$(DEBIAN_PACKAGES) trayer"
	$(if $(filter Darwin,$(shell uname)),,xvfb-run -a -s "-screen 0 1280x900x24") $(PY) -m macapp.ui.screenshots resources/screenshots

# Builds dist/Tailor.app with py2app: on a Mac with Apple Silicon only (see the README).
app: $(STAMP)
	@[ "$$(uname)" = Darwin ] || { echo "Tailor.app is built on a Mac with Apple Silicon (macOS 14 or later)." >&2; exit 2; }
	rm -rf build dist/Tailor.app
	$(PY) setup_app.py py2app

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The GGUF tools (llama.cpp's converter and llama.cpp, built from source: minutes): the tests need them;
# the app installs them when someone first exports a GGUF.
$(EXPORT_STAMP): $(STAMP)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install --quiet -e '.[dev,export]'
	touch $(EXPORT_STAMP)

# Installs only what is missing, and only where apt exists (a Mac needs nothing here).
system-packages:
	@if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		missing=""; \
		for p in $(DEBIAN_PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "Installing system packages:$$missing"; \
			$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
		fi; \
	fi

clean:
	rm -rf $(VENV) build dist *.egg-info
