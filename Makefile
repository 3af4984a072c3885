# latentgen: `make demo` and `make test` work on a fresh machine (they install first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A torch that is already importable (e.g. a CUDA build a GPU user installed) is kept;
# otherwise the CPU build. An unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
NODE_TOOLS := .tools
VALIDATOR := $(NODE_TOOLS)/node_modules/gltf-validator/package.json

.PHONY: install test demo bench lint weights clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv --system-site-packages $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

$(VALIDATOR):
	mkdir -p $(NODE_TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(NODE_TOOLS) gltf-validator@2.0.0-dev.3.10

test: install $(VALIDATOR)
	$(BIN)/python -m pytest

demo: install
	$(BIN)/latentgen export examples/spot/spot.obj -o out/demo/spot.glb --faces 4000
	$(BIN)/latentgen render out/demo/spot.glb -o out/demo/spot_preview.png --views 4 --size 384
	@echo "demo: wrote out/demo/spot.glb and out/demo/spot_preview.png"

bench: install
	$(BIN)/python bench/mesh_ops.py

lint: install
	$(BIN)/ruff check latentgen tests bench
	$(BIN)/ruff format --check latentgen tests bench

clean:
	rm -rf out .pytest_cache
