"""World foundation models: networks that predict the future of a scene as video latents.

- `worldfm.world.diffusion`: latent diffusion transformer (rectified flow) with Text2World and
  Video2World pipelines, action conditioning, multiverse sampling and rolling windows.
- `worldfm.world.autoregressive`: next-token transformer over DV tokens with a KV cache, the same
  pipelines and CLI.
- `worldfm.world.load.load_world_pipeline(name_or_folder)`: either family, chosen by name or folder.
"""
