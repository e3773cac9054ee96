"""Training (layer 6 of DESIGN.md): the loop, metrics, checkpoints and plots."""
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .loop import Interrupted, NonFiniteLoss, Trainer
from .metrics import accuracy, confusion_matrix, top_k_accuracy
