"""Training the small default models (weights/tiny) or your own: ShapeVAE, then DiT + image encoder.

    from latentgen.train import VAETrainOptions, DiTTrainOptions, train_vae, train_dit, export_weights
    train_vae("out/train/data", "out/train/vae", VAETrainOptions(), resume=True, log=print)
    train_dit("out/train/data", "out/train/vae/model", "out/train/dit", DiTTrainOptions(), resume=True, log=print)
    export_weights("out/train/vae/model", "out/train/dit", "weights/tiny")
"""

from .vae import TINY_VAE, VAETrainOptions, train_vae

__all__ = ["TINY_VAE", "VAETrainOptions", "train_vae"]
