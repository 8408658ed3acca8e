"""Writes the bundled tiny-video model pair and its reference outputs into models/tiny-video/.

    .venv/bin/python models/export_tiny.py            # (re)write the models and the reference
    .venv/bin/python models/export_tiny.py --check    # rebuild in memory, fail if anything differs

(scripts/ensure-onnxruntime.sh creates .venv with onnx, numpy and onnxruntime==1.31.1.)

- denoise.onnx: (latent [1,4,8,8,8], t [1], conditioning [1,32]) -> latent_out [1,4,8,8,8], one
  denoising step: a 3x3x3 convolution over (frames, height, width) biased by the conditioning and
  the timestep predicts a clean latent, and the step moves the latent part of the way towards it.
- decode.onnx: latent [1,4,8,8,8] -> frames [8,64,64,3], RGB in [0, 1]: a convolution per frame,
  bilinear upsampling x8, a convolution to RGB and a sigmoid.
- reference.json + reference_frames.rgb: what the Python onnxruntime computes for the reference
  prompt, seed and steps, for the Rust tests to compare against.

The weights come from numpy's PCG64 with a fixed seed, so the files are the same on every run.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True  # keep models/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_video as tv  # noqa: E402

WEIGHT_SEED = 20261121
OPSET = 17
IR_VERSION = 8
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-video")
REFERENCE = {"prompt": "a fox in snow, dawn", "seed": 7, "steps": 20}
# Extra prompt/seed pairs whose derived inputs the Rust tests must reproduce bit for bit.
DERIVATION_CASES = [
    {"prompt": "a fox in snow, dawn", "seed": 7},
    {"prompt": "  Ünïcode PROMPT -- with CAPS, digits 42 & punctuation!  ", "seed": 18446744073709551615},
    {"prompt": "...", "seed": 0},
]


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def denoise_graph(rng):
    c = tv.LATENT_SHAPE[1]
    conv_w = (rng.standard_normal((c, c, 3, 3, 3)) * (1.6 / np.sqrt(c * 27))).astype(np.float32)
    conv_b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    cond_w = (rng.standard_normal((tv.COND_DIM, c)) * 1.2).astype(np.float32)
    time_w = (rng.standard_normal(c) * 0.5).astype(np.float32)
    mix_w = (rng.standard_normal((c, c, 1, 1, 1)) * (1.5 / np.sqrt(c))).astype(np.float32)
    mix_b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    inits = [
        const("conv_w", conv_w),
        const("conv_b", conv_b),
        const("cond_w", cond_w),
        const("time_w", time_w),
        const("mix_w", mix_w),
        const("mix_b", mix_b),
        const("bias_shape", np.array([1, c, 1, 1, 1], dtype=np.int64)),
        const("one", np.array([1.0], dtype=np.float32)),
        const("gamma_slope", np.array([0.3], dtype=np.float32)),
        const("gamma_floor", np.array([0.1], dtype=np.float32)),
        const("x0_scale", np.array([1.2], dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["latent", "conv_w", "conv_b"], ["spatial"],
                         kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 1, 1]),
        helper.make_node("MatMul", ["conditioning", "cond_w"], ["cond_proj"]),
        helper.make_node("Reshape", ["cond_proj", "bias_shape"], ["cond_bias"]),
        helper.make_node("Mul", ["t", "time_w"], ["time_proj"]),
        helper.make_node("Reshape", ["time_proj", "bias_shape"], ["time_bias"]),
        helper.make_node("Add", ["spatial", "cond_bias"], ["pre1"]),
        helper.make_node("Add", ["pre1", "time_bias"], ["pre2"]),
        helper.make_node("Tanh", ["pre2"], ["hidden"]),
        helper.make_node("Conv", ["hidden", "mix_w", "mix_b"], ["mixed"], kernel_shape=[1, 1, 1]),
        helper.make_node("Tanh", ["mixed"], ["x0_unit"]),
        helper.make_node("Mul", ["x0_unit", "x0_scale"], ["x0"]),
        # gamma = 0.1 + 0.3 (1 - t): small steps while noisy, larger ones near the end.
        helper.make_node("Sub", ["one", "t"], ["progress"]),
        helper.make_node("Mul", ["progress", "gamma_slope"], ["gamma_rise"]),
        helper.make_node("Add", ["gamma_rise", "gamma_floor"], ["gamma"]),
        helper.make_node("Sub", ["x0", "latent"], ["delta"]),
        helper.make_node("Mul", ["delta", "gamma"], ["update"]),
        helper.make_node("Add", ["latent", "update"], ["latent_out"]),
    ]
    latent = list(tv.LATENT_SHAPE)
    graph = helper.make_graph(
        nodes,
        "tiny_video_denoise",
        [
            helper.make_tensor_value_info("latent", TensorProto.FLOAT, latent),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("conditioning", TensorProto.FLOAT, [1, tv.COND_DIM]),
        ],
        [helper.make_tensor_value_info("latent_out", TensorProto.FLOAT, latent)],
        initializer=inits,
    )
    return model_of(graph, "one denoising step of shotfarm's bundled tiny-video model")


def decode_graph(rng):
    c, f, h, w = tv.LATENT_SHAPE[1:]
    hidden = 16
    scale = tv.FRAME_H // h
    dec1_w = (rng.standard_normal((hidden, c, 3, 3)) * (1.8 / np.sqrt(c * 9))).astype(np.float32)
    dec1_b = (rng.standard_normal(hidden) * 0.2).astype(np.float32)
    dec2_w = (rng.standard_normal((3, hidden, 3, 3)) * (2.5 / np.sqrt(hidden * 9))).astype(np.float32)
    dec2_b = (rng.standard_normal(3) * 0.3).astype(np.float32)
    inits = [
        const("dec1_w", dec1_w),
        const("dec1_b", dec1_b),
        const("dec2_w", dec2_w),
        const("dec2_b", dec2_b),
        const("per_frame_shape", np.array([f, c, h, w], dtype=np.int64)),
        const("upsample", np.array([1.0, 1.0, float(scale), float(scale)], dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Transpose", ["latent"], ["frames_first"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["frames_first", "per_frame_shape"], ["per_frame"]),
        helper.make_node("Conv", ["per_frame", "dec1_w", "dec1_b"], ["feat"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["feat"], ["feat_act"]),
        helper.make_node("Resize", ["feat_act", "", "upsample"], ["feat_up"], mode="linear"),
        helper.make_node("Conv", ["feat_up", "dec2_w", "dec2_b"], ["rgb_logits"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["rgb_logits"], ["rgb"]),
        helper.make_node("Transpose", ["rgb"], ["frames"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_video_decode",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, list(tv.LATENT_SHAPE))],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [tv.FRAMES, tv.FRAME_H, tv.FRAME_W, 3])],
        initializer=inits,
    )
    return model_of(graph, "latent to RGB frames in [0, 1] for shotfarm's bundled tiny-video model")


def model_of(graph, doc):
    model = helper.make_model(
        graph,
        producer_name="shotfarm models/export_tiny.py",
        producer_version="1",
        doc_string=doc,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def quantize(frames):
    """RGB in [0, 1] to bytes: floor(x * 255 + 0.5), clamped; the Rust executor does the same in f32."""
    q = np.floor(frames.astype(np.float32) * np.float32(255.0) + np.float32(0.5))
    return np.clip(q, 0, 255).astype(np.uint8)


def reference(denoise_bytes, decode_bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    den = ort.InferenceSession(denoise_bytes, opts, providers=providers)
    dec = ort.InferenceSession(decode_bytes, opts, providers=providers)
    count = int(np.prod(tv.LATENT_SHAPE))
    noise = np.array(tv.initial_noise(REFERENCE["seed"], count), dtype=np.float64)
    latent = noise.astype(np.float32).reshape(tv.LATENT_SHAPE)
    cond = np.array([tv.conditioning(REFERENCE["prompt"])], dtype=np.float64).astype(np.float32)
    steps = REFERENCE["steps"]
    after = {}
    for k in range(1, steps + 1):
        t = np.array([tv.timestep(k, steps)], dtype=np.float32)
        (latent,) = den.run(["latent_out"], {"latent": latent, "t": t, "conditioning": cond})
        after[k] = latent.copy()
    (frames,) = dec.run(["frames"], {"latent": latent})
    rgb = quantize(frames)
    cases = []
    for case in DERIVATION_CASES:
        n = np.array(tv.initial_noise(case["seed"], count), dtype=np.float64).astype(np.float32)
        c = np.array(tv.conditioning(case["prompt"]), dtype=np.float64).astype(np.float32)
        cases.append({
            "prompt": case["prompt"],
            "seed": case["seed"],
            "noise_head": [float(v) for v in n[:16]],
            "noise_fnv1a64": f"{tv.fnv1a64(n.astype('<f4').tobytes()):016x}",
            "conditioning": [float(v) for v in c],
        })
    doc = {
        "about": "written by models/export_tiny.py with the Python onnxruntime; do not edit",
        "onnxruntime": ort.__version__,
        "prompt": REFERENCE["prompt"],
        "seed": REFERENCE["seed"],
        "steps": steps,
        "latent_shape": list(tv.LATENT_SHAPE),
        "timesteps": [float(tv.timestep(k, steps)) for k in range(1, steps + 1)],
        "derivation_cases": cases,
        "latent_after_step_10": [float(v) for v in after[10].ravel()],
        "final_latent": [float(v) for v in latent.ravel()],
        "frames": {
            "count": int(rgb.shape[0]),
            "height": int(rgb.shape[1]),
            "width": int(rgb.shape[2]),
            "mean_per_frame": [float(rgb[i].mean()) for i in range(rgb.shape[0])],
            "rgb_fnv1a64": f"{tv.fnv1a64(rgb.tobytes()):016x}",
            "rgb_file": "reference_frames.rgb",
        },
    }
    return doc, rgb.tobytes()


def same_reference(old_json, new_doc, old_rgb, new_rgb):
    """The reference on disk against a fresh one: identical inputs and shapes; latents within 1e-5
    and pixels within 1 (another CPU's kernels may round the last bit differently)."""
    old = json.loads(old_json)
    for key in ("prompt", "seed", "steps", "latent_shape", "timesteps", "derivation_cases"):
        if old.get(key) != new_doc[key]:
            return False
    for key in ("final_latent", "latent_after_step_10"):
        a, b = np.array(old[key], dtype=np.float32), np.array(new_doc[key], dtype=np.float32)
        if a.shape != b.shape or np.max(np.abs(a - b)) > 1e-5:
            return False
    a = np.frombuffer(old_rgb, dtype=np.uint8).astype(np.int16)
    b = np.frombuffer(new_rgb, dtype=np.uint8).astype(np.int16)
    return a.shape == b.shape and int(np.max(np.abs(a - b))) <= 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    args = parser.parse_args()
    rng = np.random.Generator(np.random.PCG64(WEIGHT_SEED))
    den = denoise_graph(rng).SerializeToString()
    dec = decode_graph(rng).SerializeToString()
    doc, rgb = reference(den, dec)
    files = {
        "denoise.onnx": den,
        "decode.onnx": dec,
        "reference.json": (json.dumps(doc, separators=(",", ":")) + "\n").encode(),
        "reference_frames.rgb": rgb,
    }
    if args.check:
        def read(name):
            with open(os.path.join(OUT_DIR, name), "rb") as fh:
                return fh.read()

        stale = [n for n in ("denoise.onnx", "decode.onnx") if read(n) != files[n]]
        if not same_reference(read("reference.json"), doc, read("reference_frames.rgb"), rgb):
            stale.append("reference.json/reference_frames.rgb")
        if stale:
            sys.exit(f"differs from a fresh export: {', '.join(stale)}")
        print("models/tiny-video matches a fresh export")
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, data in files.items():
        path = os.path.join(OUT_DIR, name)
        with open(path, "wb") as fh:
            fh.write(data)
        print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
