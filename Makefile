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
	$(BIN)/latentgen image2mesh examples/images/chair.png -o out/demo --resolution 128 --texture-size 1024
	@echo "demo: textured asset out/demo/chair/chair.glb, preview out/demo/chair/preview.png"

# The quick benchmarks (4 min on 2 cores). Longer ones: bench/dit.py --config mini,v2-0, bench/load.py,
# bench/paint.py --full, bench/quality.py, bench/data_gen.py (see README, Benchmarks).
bench: install
	$(BIN)/python bench/mesh_ops.py
	$(BIN)/python bench/raster.py
	$(BIN)/python bench/bake.py
	$(BIN)/python bench/decode.py --resolutions 128 256
	$(BIN)/python bench/dit.py
	$(BIN)/python bench/paint.py
	$(BIN)/python bench/image2mesh.py --batch 5

lint: install
	$(BIN)/ruff check latentgen tests bench
	$(BIN)/ruff format --check latentgen tests bench

# The shipped weights/tiny from scratch (CPU: 1 h 50 min on 2 idle cores, measured on a fresh clone): datasets, ShapeVAE, its decoder fine-tuned
# deeper on shapes with machined parts added and the encoder fixed (so the same latents), then the DiT + image
# encoder on those latents, with twice the everyday shapes. Interrupted? Run it again: every stage resumes from
# its checkpoints in out/train/. Options and figures: weights/tiny/MODEL_CARD.md.
weights: install
	$(BIN)/latentgen train data out/train/data_everyday --images 0 --workers 2
	$(BIN)/latentgen train data out/train/data_vae --family all --images 0 --workers 2
	$(BIN)/latentgen train data out/train/data_dit --per-family 80 --workers 2
	$(BIN)/latentgen train vae out/train/data_everyday -o out/train/vae --resume
	$(BIN)/latentgen train vae out/train/data_vae -o out/train/vae_dec --init out/train/vae/model --freeze-encoder \
		--decoder-layers 6 --queries 2048 --lr 5e-4 --steps 10000 --resume
	$(BIN)/latentgen train dit out/train/data_dit --vae out/train/vae_dec/model -o out/train/dit --resume --export weights/tiny
	cp out/train/vae/curve.png weights/tiny/vae_curve.png
	cp out/train/vae_dec/curve.png weights/tiny/vae_dec_curve.png
	cp out/train/dit/curve.png weights/tiny/dit_curve.png

clean:
	rm -rf out .pytest_cache
