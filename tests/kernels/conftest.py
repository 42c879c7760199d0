import os

import torch

if not torch.cuda.is_available():  # run Triton kernels in the interpreter on CPU-only machines
    os.environ.setdefault("TRITON_INTERPRET", "1")
