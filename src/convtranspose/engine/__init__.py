"""Compute kernels. They receive validated, batched float32/float64 arrays and a frozen spec."""

from .gemm import backward, bias_grad, forward, input_grad, weight_grad

__all__ = ["forward", "backward", "input_grad", "weight_grad", "bias_grad"]
