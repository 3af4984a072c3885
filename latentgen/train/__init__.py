"""Training the small default models (weights/tiny) or your own: ShapeVAE, then DiT + image encoder.

    from latentgen.train import VAETrainOptions, DiTTrainOptions, train_vae, train_dit, export_weights
    train_vae("out/train/data", "out/train/vae", VAETrainOptions(), resume=True, log=print)
    train_dit("out/train/data", "out/train/vae/model", "out/train/dit", DiTTrainOptions(), resume=True, log=print)
    export_weights("out/train/dit", "weights/tiny")     # shapevae/ dit/ conditioner/ pipeline.json

Command lines: `latentgen train data OUT`, `latentgen train vae DATA -o RUN`, `latentgen train dit DATA --vae
RUN/model -o RUN2 [--export weights/tiny]` (latentgen/cli_train.py); `make weights` runs all three.
"""

from importlib import import_module

_EXPORTS = {
    "TINY_VAE": "vae",
    "VAETrainOptions": "vae",
    "train_vae": "vae",
    "TINY_CONDITIONER": "dit",
    "TINY_DIT": "dit",
    "DiTTrainOptions": "dit",
    "export_weights": "dit",
    "train_dit": "dit",
    "TINY_DATA": "data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
