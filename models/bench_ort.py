"""The Python side of the ort benchmark (adapters/onnx/benches/onnx_step.rs runs it in the same run).

    .venv/bin/python models/bench_ort.py [--steps N] [--sessions N]

Times what the Rust executor does with the same files and the same session options (one
intra-op thread, no spinning, all graph optimizations, CPU): creating the denoise+decode session
pair, one denoising step (inputs in, latent out), and one decode. Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_video as tv  # noqa: E402

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-video")


def options():
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return o


def pair():
    p = ["CPUExecutionProvider"]
    den = ort.InferenceSession(os.path.join(MODEL_DIR, "denoise.onnx"), options(), providers=p)
    dec = ort.InferenceSession(os.path.join(MODEL_DIR, "decode.onnx"), options(), providers=p)
    return den, dec


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--decodes", type=int, default=50)
    args = ap.parse_args()

    create = []
    for _ in range(args.sessions):
        t0 = time.perf_counter()
        den, dec = pair()
        create.append(time.perf_counter() - t0)

    count = int(np.prod(tv.LATENT_SHAPE))
    latent = np.array(tv.initial_noise(7, count), dtype=np.float32).reshape(tv.LATENT_SHAPE)
    cond = np.array([tv.conditioning("a fox in snow, dawn")], dtype=np.float32)
    # No reference image: the neutral (zero) image, as the executor feeds an explicit shot.
    image = np.zeros(tv.VIDEO_IMAGE_SHAPE, dtype=np.float32)
    for k in range(1, 21):  # warm-up
        t = np.array([tv.timestep(k, 20)], dtype=np.float32)
        (latent,) = den.run(["latent_out"], {"latent": latent, "t": t, "conditioning": cond, "image": image})
    step = []
    for i in range(args.steps):
        k = i % 20 + 1
        t0 = time.perf_counter()
        t = np.array([tv.timestep(k, 20)], dtype=np.float32)
        (latent,) = den.run(["latent_out"], {"latent": latent, "t": t, "conditioning": cond, "image": image})
        step.append(time.perf_counter() - t0)
    decode = []
    for _ in range(args.decodes):
        t0 = time.perf_counter()
        dec.run(["frames"], {"latent": latent})
        decode.append(time.perf_counter() - t0)

    print(json.dumps({
        "onnxruntime": ort.__version__,
        "session_pair_create_ms_median": statistics.median(create) * 1e3,
        "step_us_median": statistics.median(step) * 1e6,
        "step_us_p90": percentile(step, 0.9) * 1e6,
        "decode_ms_median": statistics.median(decode) * 1e3,
        "samples": {"sessions": args.sessions, "steps": args.steps, "decodes": args.decodes},
    }))


if __name__ == "__main__":
    main()
