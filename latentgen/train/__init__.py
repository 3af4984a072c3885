"""Training the small default models (weights/tiny) or your own: ShapeVAE, then DiT + image encoder.

    from latentgen.train import VAETrainOptions, DiTTrainOptions, train_vae, train_dit, export_weights
    train_vae("out/train/data", "out/train/vae", VAETrainOptions(), resume=True, log=print)
    train_dit("out/train/data", "out/train/vae/model", "out/train/dit", DiTTrainOptions(), resume=True, log=print)
    export_weights("out/train/dit", "weights/tiny")     # shapevae/ dit/ conditioner/ pipeline.json
"""

from .dit import TINY_CONDITIONER, TINY_DIT, DiTTrainOptions, export_weights, train_dit
from .vae import TINY_VAE, VAETrainOptions, train_vae

__all__ = [
    "TINY_CONDITIONER",
    "TINY_DIT",
    "TINY_VAE",
    "DiTTrainOptions",
    "VAETrainOptions",
    "export_weights",
    "train_dit",
    "train_vae",
]
