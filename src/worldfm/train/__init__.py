"""Training: a generic loop (bf16, EMA, accumulation, exact resume, DDP under torchrun) and recipes.

- `Trainer`, `TrainerConfig`, `TrainTask`, `TrainResult`: the loop (trainer.py).
- `EMA` (ema.py); `warmup_cosine` (schedule.py); checkpoint files (checkpoint.py).
- `init_distributed`, `DistInfo`, `cleanup` (distributed.py).
- reconstruction losses without downloaded weights (losses.py).
- `worldfm.train.recipes.tokenizer`: YAML recipe -> tokenizer model, data, loss, export.
"""

from worldfm.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from worldfm.train.distributed import DistInfo, cleanup, init_distributed
from worldfm.train.ema import EMA
from worldfm.train.losses import LossWeights, reconstruction_loss
from worldfm.train.schedule import warmup_cosine
from worldfm.train.trainer import Trainer, TrainerConfig, TrainingError, TrainResult, TrainTask

__all__ = [
    "EMA",
    "DistInfo",
    "LossWeights",
    "TrainResult",
    "TrainTask",
    "Trainer",
    "TrainerConfig",
    "TrainingError",
    "cleanup",
    "init_distributed",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "reconstruction_loss",
    "save_checkpoint",
    "warmup_cosine",
]
