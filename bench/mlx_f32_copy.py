"""A copy of an `ingot export hf` folder in which every BF16 tensor is widened to F32 (the values are unchanged:
BF16 → F32 is exact), for make interop-endpoints' arithmetic check of mlx_lm.server.

mlx-lm computes in the dtype the weights are stored in: on the BF16 export its activations, attention and cache are
BF16; on this copy they are F32, with the INT4 experts still loaded natively (compressed-tensors pack-quantized:
scales and biases −8 × scale, now F32). If mlx_lm.server's differences from ingot's exact engine shrink to f32
rounding on this copy, they were BF16 arithmetic, not a bug (bench/RESULTS.md, "Real serving stacks").

Usage: .venv-mlx/bin/python bench/mlx_f32_copy.py SRC DST   (DST must not exist; written whole, then renamed)
"""
import json
import os
import shutil
import sys

import mlx.core as mx


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if os.path.exists(dst):
        sys.exit("%s exists" % dst)
    tmp = dst + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    widened = 0
    for name in sorted(os.listdir(src)):
        path, out = os.path.join(src, name), os.path.join(tmp, name)
        if name.endswith(".safetensors"):
            tensors, metadata = mx.load(path, return_metadata=True)
            cast = {}
            for key, value in tensors.items():
                if value.dtype == mx.bfloat16:
                    value, widened = value.astype(mx.float32), widened + 1
                cast[key] = value
            mx.save_safetensors(out, cast, metadata=metadata)
        elif name == "config.json":
            config = json.load(open(path))
            config["torch_dtype"] = "float32"
            json.dump(config, open(out, "w"), indent=2)
        elif name == "model.safetensors.index.json":
            index = json.load(open(path))
            index.get("metadata", {}).pop("total_size", None)  # the sizes change; loaders do not need it
            json.dump(index, open(out, "w"), indent=2)
        elif os.path.isfile(path):
            shutil.copy(path, out)
    if widened == 0:
        sys.exit("no BF16 tensor in %s: nothing to widen" % src)
    os.rename(tmp, dst)
    print("%s: %d BF16 tensors widened to F32" % (dst, widened))


if __name__ == "__main__":
    main()
