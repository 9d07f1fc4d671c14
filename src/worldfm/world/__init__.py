"""World foundation models: networks that predict the future of a scene as video latents.

- `worldfm.world.diffusion`: latent diffusion transformer (rectified flow) with Text2World and
  Video2World pipelines, action conditioning, multiverse sampling and rolling windows.
"""
