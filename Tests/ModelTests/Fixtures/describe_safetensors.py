#!/usr/bin/env python3
"""Reads a safetensors file with the reference `safetensors` package and prints, as JSON,
{"metadata": {...}, "tensors": {name: {"dtype", "shape", "sum"}}} (sum in float64), so
CheckpointInteropTests can check that files we write open in the reference implementation.

Needs: pip install safetensors numpy
"""
import json
import sys

try:
    import numpy as np
    from safetensors import safe_open
except ImportError as e:
    sys.stderr.write(f"describe_safetensors.py needs numpy and safetensors ({e}); install them with: pip install safetensors numpy\n")
    sys.exit(3)

with safe_open(sys.argv[1], framework="numpy") as f:
    tensors = {}
    for name in f.keys():
        t = f.get_tensor(name)
        tensors[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "sum": float(np.sum(t, dtype=np.float64))}
    print(json.dumps({"metadata": f.metadata(), "tensors": tensors}))
