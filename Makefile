# Set-up and everyday commands. `make run` opens Tailor, `make test` runs the tests; both create
# the environment (.venv) and install the system packages the tests need on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXPORT_STAMP := $(VENV)/.installed-export
TOKENIZERS := $(VENV)/tokenizers
TOKENIZERS_STAMP := $(VENV)/.installed-tokenizers

# Debian packages: OpenBLAS (MLX's CPU backend is ~50x faster with it), Qt's system libraries,
# Xvfb for drawing windows without a screen, Chromium for the test that opens the HTML report.
DEBIAN_PACKAGES := libopenblas0-pthread xvfb chromium libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: run test screenshots app system-packages bench-peers clean

run: system-packages $(STAMP)
	$(PY) -m macapp app

# One OpenBLAS thread a process: the tests run several MLX processes at once, and OpenBLAS's threads spin
# while they wait, so on a busy machine they crawled (the demo model's build: 15 minutes instead of 2).
test: system-packages $(EXPORT_STAMP) $(TOKENIZERS_STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m macapp.engine.check.blas -m pytest

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
	$(PY) -m pip install --quiet -e '.[dev,general]'
	touch $(STAMP)

# The GGUF tools (llama.cpp's converter and llama.cpp, built from source: minutes): the tests need them;
# the app installs them when someone first exports a GGUF.
# llama.cpp is built first, with the settings Tailor itself uses (macapp/engine/export/gguf_tools.py), and never
# from pip's cache of wheels, which would keep a build made with other settings.
GGUF_TOOLS = $$($(PY) -c 'from macapp.engine.export import gguf_tools; print(gguf_tools.$(1)())')
$(EXPORT_STAMP): $(STAMP)
	CMAKE_ARGS="$(call GGUF_TOOLS,build_settings)" $(PY) -m pip install \
		--quiet --no-cache-dir --no-deps "$(call GGUF_TOOLS,llama_cpp_requirement)"
	$(PY) -m pip install --quiet -e '.[dev,general,export]'
	touch $(EXPORT_STAMP)

# Real tokenizers and chat templates for the tests' tiny Llama 3, Qwen2.5, Mistral and Phi-3 models
# (tests/families.py), from two registry packages since no model hub is reachable: llama.cpp's vocab files, their
# tokenizer test vectors and chat templates, in the source of the llama-cpp-python installed; and Mistral 7B v0.3's
# SentencePiece model in mistral_common's wheel (its 240216 file has [control_8] at id 10 as the hub's has; the
# newer ones rename those tokens). Only those files are kept.
LLAMA_CPP_FILES := $(foreach v,llama-bpe qwen2 phi-3,$(addprefix ggml-vocab-$(v).,gguf gguf.inp gguf.out)) \
	$(addprefix templates/,meta-llama-Llama-3.2-3B-Instruct.jinja Qwen-Qwen2.5-7B-Instruct.jinja \
	microsoft-Phi-3.5-mini-instruct.jinja)
MISTRAL_COMMON := mistral_common==1.13.1
MISTRAL_MODEL := mistral_common/data/mistral_instruct_tokenizer_240216.model.v2
$(TOKENIZERS_STAMP): $(EXPORT_STAMP)
	rm -rf $(TOKENIZERS) && mkdir -p $(TOKENIZERS)/downloads
	version=$$($(PY) -c "import importlib.metadata as m; print(m.version('llama_cpp_python'))") && \
	$(PY) -m pip download --quiet --no-deps --no-binary :all: -d $(TOKENIZERS)/downloads "llama-cpp-python==$$version" && \
	tar -xzf $(TOKENIZERS)/downloads/llama_cpp_python-$$version.tar.gz -C $(TOKENIZERS) --strip-components=4 \
		$(addprefix llama_cpp_python-$$version/vendor/llama.cpp/models/,$(LLAMA_CPP_FILES))
	$(PY) -m pip download --quiet --no-deps --only-binary :all: -d $(TOKENIZERS)/downloads "$(MISTRAL_COMMON)"
	$(PY) -c "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))" \
		$(TOKENIZERS)/downloads/mistral_common-*.whl $(MISTRAL_MODEL) $(TOKENIZERS)/$(notdir $(MISTRAL_MODEL))
	rm -rf $(TOKENIZERS)/downloads
	touch $(TOKENIZERS_STAMP)

# The other MLX trainers that bench/train_throughput.py compares with (bench/peer_trainers.py), each in its own venv
# since they pin different mlx-lm versions, all with the MLX of .venv. On Linux pip would give unsloth-zoo CUDA
# PyTorch, Triton and the like: it is installed without its dependencies, then with those it has on a Mac, plus
# PyTorch (its response masking imports torch; torch==2.13.0 takes a +cpu wheel where pip finds one).
BENCH_PEERS := mlx_lm_lora mlx_tune unsloth_zoo
PEER_mlx_lm_lora := mlx-lm-lora==5.10.2
PEER_mlx_tune := mlx-tune==0.6.0
PEER_unsloth_zoo := mlx-lm==0.32.2 mlx-vlm==0.7.9 transformers==5.17.0 "datasets>=3.4.1,<5" "certifi>=2026.10.19" \
	sentencepiece tqdm psutil wheel numpy protobuf huggingface_hub hf_transfer pillow regex msgspec typing_extensions \
	filelock requests torch==2.13.0
PEER_NO_DEPS_unsloth_zoo := unsloth-zoo==2026.10.9
bench-peers: $(foreach peer,$(BENCH_PEERS),bench/.venvs/$(peer)/.installed)

bench/.venvs/%/.installed: Makefile $(STAMP)
	$(PYTHON) -m venv bench/.venvs/$*
	mlx=$$($(PY) -c "import importlib.metadata as m; print(m.version('mlx'))") && \
	bench/.venvs/$*/bin/pip install --quiet "mlx[cpu]==$$mlx" $(PEER_$*)
	$(if $(PEER_NO_DEPS_$*),bench/.venvs/$*/bin/pip install --quiet --no-deps $(PEER_NO_DEPS_$*))
	touch $@

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
