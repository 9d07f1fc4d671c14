"""Training recipes: a YAML file (configs/<area>/<tier>.yaml) -> model, data, loss, trainer, export.

- `tokenizer`: causal video tokenizers (`worldfm train tokenizer --config ...`).
- `data`: the simulated data mixture every recipe trains on (generated on first use).
- `common`: strict YAML parsing (ConfigError naming the bad key), section building, recipe methods.
- `run`: the run skeleton every recipe shares (distributed setup, Trainer, export, training record).
- `cached`: what the world-model recipes (`predict`, `ar`) share: frozen tokenizer and text encoder,
  the encoding cache, the pipeline export.
"""
