"""Writes the bundled tiny models and their reference outputs: models/tiny-video/ (image-to-video)
and models/tiny-image/ (the reference image a story's shots are conditioned on).

    .venv/bin/python models/export_tiny.py              # (re)write the models and the references
    .venv/bin/python models/export_tiny.py --check      # rebuild in memory, fail if anything differs
    .venv/bin/python models/export_tiny.py --check --fresh DIR   # ...and write the fresh export there

(scripts/ensure-onnxruntime.sh creates .venv with onnx, numpy and onnxruntime==1.31.1.)

tiny-video:
- denoise.onnx: (latent [1,4,8,8,8], t [1], conditioning [1,32], image [1,64,64,3]) -> latent_out
  [1,4,8,8,8], one denoising step: a 3x3x3 convolution over (frames, height, width) biased by the
  conditioning, the timestep and the reference image (average-pooled to the latent's 8x8 and mixed
  to its channels, the same bias in every frame) predicts a clean latent, and the step moves the
  latent part of the way towards it. A zero image adds exactly nothing: a shot without a reference
  computes what the model did before it had an image input.
- decode.onnx: latent [1,4,8,8,8] -> frames [8,64,64,3], RGB in [0, 1]: a convolution per frame,
  bilinear upsampling x8, a convolution to RGB and a sigmoid.
- reference.json + reference_frames.rgb (no reference image) + reference_i2v_frames.rgb (the
  tiny-image reference below as the image): what the Python onnxruntime computes.

tiny-image:
- denoise.onnx: (latent [1,4,16,16], t [1], conditioning [1,32]) -> latent_out [1,4,16,16], the
  same step in two dimensions.
- decode.onnx: latent [1,4,16,16] -> frames [1,64,64,3]: one RGB image, upsampled x4.
- reference.json + reference_image.rgb: what the Python onnxruntime computes for the reference
  character sheet.

The weights come from numpy's PCG64 with fixed seeds, so the files are the same on every run.
tiny-video's original weights keep their seed and order; the image branch draws from its own.
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
# tiny-video's image branch and tiny-image draw from their own generators, so tiny-video's original
# weights (WEIGHT_SEED, in their original order) are unchanged.
I2V_WEIGHT_SEED = 20261122
IMAGE_WEIGHT_SEED = 20261123
OPSET = 17
IR_VERSION = 8
MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REFERENCE = {"prompt": "a fox in snow, dawn", "seed": 7, "steps": 20}
# The character sheet tiny-image draws; its image is tiny-video's reference image in the i2v case.
IMAGE_REFERENCE = {"prompt": "Mira: a small red fox with a green scarf and amber eyes", "seed": 11, "steps": 20}
# Extra prompt/seed pairs whose derived inputs the Rust tests must reproduce bit for bit.
DERIVATION_CASES = [
    {"prompt": "a fox in snow, dawn", "seed": 7},
    {"prompt": "  Ünïcode PROMPT -- with CAPS, digits 42 & punctuation!  ", "seed": 18446744073709551615},
    {"prompt": "...", "seed": 0},
]


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def step_weights(rng, c, kernel):
    """The denoising step's weights (the same draws, in the same order, as tiny-video always had)."""
    taps = int(np.prod(kernel))
    conv_w = (rng.standard_normal((c, c, *kernel)) * (1.6 / np.sqrt(c * taps))).astype(np.float32)
    conv_b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    cond_w = (rng.standard_normal((tv.COND_DIM, c)) * 1.2).astype(np.float32)
    time_w = (rng.standard_normal(c) * 0.5).astype(np.float32)
    mix_w = (rng.standard_normal((c, c) + (1,) * len(kernel)) * (1.5 / np.sqrt(c))).astype(np.float32)
    mix_b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    return conv_w, conv_b, cond_w, time_w, mix_w, mix_b


def step_nodes(kernel, extra_bias=None):
    """conv(latent) + cond bias + time bias (+ extra_bias), tanh, a 1x1 mix, tanh: x0; then
    latent + gamma (x0 - latent) with gamma = 0.1 + 0.3 (1 - t)."""
    pre = "pre2"
    nodes = [
        helper.make_node("Conv", ["latent", "conv_w", "conv_b"], ["spatial"],
                         kernel_shape=list(kernel), pads=[1] * (2 * len(kernel))),
        helper.make_node("MatMul", ["conditioning", "cond_w"], ["cond_proj"]),
        helper.make_node("Reshape", ["cond_proj", "bias_shape"], ["cond_bias"]),
        helper.make_node("Mul", ["t", "time_w"], ["time_proj"]),
        helper.make_node("Reshape", ["time_proj", "bias_shape"], ["time_bias"]),
        helper.make_node("Add", ["spatial", "cond_bias"], ["pre1"]),
        helper.make_node("Add", ["pre1", "time_bias"], ["pre2"]),
    ]
    if extra_bias is not None:
        nodes.append(helper.make_node("Add", ["pre2", extra_bias], ["pre3"]))
        pre = "pre3"
    nodes += [
        helper.make_node("Tanh", [pre], ["hidden"]),
        helper.make_node("Conv", ["hidden", "mix_w", "mix_b"], ["mixed"], kernel_shape=[1] * len(kernel)),
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
    return nodes


def step_inits(weights, c, rank):
    conv_w, conv_b, cond_w, time_w, mix_w, mix_b = weights
    return [
        const("conv_w", conv_w),
        const("conv_b", conv_b),
        const("cond_w", cond_w),
        const("time_w", time_w),
        const("mix_w", mix_w),
        const("mix_b", mix_b),
        const("bias_shape", np.array([1, c] + [1] * (rank - 2), dtype=np.int64)),
        const("one", np.array([1.0], dtype=np.float32)),
        const("gamma_slope", np.array([0.3], dtype=np.float32)),
        const("gamma_floor", np.array([0.1], dtype=np.float32)),
        const("x0_scale", np.array([1.2], dtype=np.float32)),
    ]


def video_denoise_graph(rng, i2v_rng):
    c, f, h, w = tv.LATENT_SHAPE[1:]
    inits = step_inits(step_weights(rng, c, (3, 3, 3)), c, len(tv.LATENT_SHAPE))
    # The image branch: no bias anywhere, so a zero image gives an exact zero bias.
    pool = tv.FRAME_H // h
    img_w = (i2v_rng.standard_normal((c, 3, 1, 1)) * 1.5).astype(np.float32)
    inits += [
        const("img_w", img_w),
        const("img_bias_shape", np.array([1, c, 1, h, w], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Transpose", ["image"], ["image_chw"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["image_chw"], ["image_small"],
                         kernel_shape=[pool, pool], strides=[pool, pool]),
        helper.make_node("Conv", ["image_small", "img_w"], ["image_feat"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["image_feat", "img_bias_shape"], ["image_bias"]),
    ] + step_nodes((3, 3, 3), extra_bias="image_bias")
    latent = list(tv.LATENT_SHAPE)
    graph = helper.make_graph(
        nodes,
        "tiny_video_denoise",
        [
            helper.make_tensor_value_info("latent", TensorProto.FLOAT, latent),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("conditioning", TensorProto.FLOAT, [1, tv.COND_DIM]),
            helper.make_tensor_value_info("image", TensorProto.FLOAT, list(tv.VIDEO_IMAGE_SHAPE)),
        ],
        [helper.make_tensor_value_info("latent_out", TensorProto.FLOAT, latent)],
        initializer=inits,
    )
    return model_of(graph, "one image-conditioned denoising step of shotfarm's bundled tiny-video model")


def image_denoise_graph(rng):
    c = tv.IMAGE_LATENT_SHAPE[1]
    inits = step_inits(step_weights(rng, c, (3, 3)), c, len(tv.IMAGE_LATENT_SHAPE))
    latent = list(tv.IMAGE_LATENT_SHAPE)
    graph = helper.make_graph(
        step_nodes((3, 3)),
        "tiny_image_denoise",
        [
            helper.make_tensor_value_info("latent", TensorProto.FLOAT, latent),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("conditioning", TensorProto.FLOAT, [1, tv.COND_DIM]),
        ],
        [helper.make_tensor_value_info("latent_out", TensorProto.FLOAT, latent)],
        initializer=inits,
    )
    return model_of(graph, "one denoising step of shotfarm's bundled tiny-image model")


def decoder_weights(rng, c, hidden):
    dec1_w = (rng.standard_normal((hidden, c, 3, 3)) * (1.8 / np.sqrt(c * 9))).astype(np.float32)
    dec1_b = (rng.standard_normal(hidden) * 0.2).astype(np.float32)
    dec2_w = (rng.standard_normal((3, hidden, 3, 3)) * (2.5 / np.sqrt(hidden * 9))).astype(np.float32)
    dec2_b = (rng.standard_normal(3) * 0.3).astype(np.float32)
    return [const("dec1_w", dec1_w), const("dec1_b", dec1_b), const("dec2_w", dec2_w), const("dec2_b", dec2_b)]


def decoder_nodes(source):
    """Per image: a 3x3 convolution, tanh, bilinear upsampling, a 3x3 convolution to RGB, sigmoid,
    channels last."""
    return [
        helper.make_node("Conv", [source, "dec1_w", "dec1_b"], ["feat"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["feat"], ["feat_act"]),
        helper.make_node("Resize", ["feat_act", "", "upsample"], ["feat_up"], mode="linear"),
        helper.make_node("Conv", ["feat_up", "dec2_w", "dec2_b"], ["rgb_logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["rgb_logits"], ["rgb"]),
        helper.make_node("Transpose", ["rgb"], ["frames"], perm=[0, 2, 3, 1]),
    ]


def video_decode_graph(rng):
    c, f, h, w = tv.LATENT_SHAPE[1:]
    scale = tv.FRAME_H // h
    inits = decoder_weights(rng, c, 16) + [
        const("per_frame_shape", np.array([f, c, h, w], dtype=np.int64)),
        const("upsample", np.array([1.0, 1.0, float(scale), float(scale)], dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Transpose", ["latent"], ["frames_first"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["frames_first", "per_frame_shape"], ["per_frame"]),
    ] + decoder_nodes("per_frame")
    graph = helper.make_graph(
        nodes,
        "tiny_video_decode",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, list(tv.LATENT_SHAPE))],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [tv.FRAMES, tv.FRAME_H, tv.FRAME_W, 3])],
        initializer=inits,
    )
    return model_of(graph, "latent to RGB frames in [0, 1] for shotfarm's bundled tiny-video model")


def image_decode_graph(rng):
    c, h, w = tv.IMAGE_LATENT_SHAPE[1:]
    scale = tv.IMAGE_H // h
    inits = decoder_weights(rng, c, 16) + [
        const("upsample", np.array([1.0, 1.0, float(scale), float(scale)], dtype=np.float32)),
    ]
    graph = helper.make_graph(
        decoder_nodes("latent"),
        "tiny_image_decode",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, list(tv.IMAGE_LATENT_SHAPE))],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, tv.IMAGE_H, tv.IMAGE_W, 3])],
        initializer=inits,
    )
    return model_of(graph, "latent to one RGB image in [0, 1] for shotfarm's bundled tiny-image model")


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


def sessions(denoise_bytes, decode_bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    return (ort.InferenceSession(denoise_bytes, opts, providers=providers),
            ort.InferenceSession(decode_bytes, opts, providers=providers))


def render(den, dec, shape, case, image=None):
    """Runs a whole job as the executor does: the latent after step 10, the final latent and the
    quantized frames."""
    count = int(np.prod(shape))
    latent = np.array(tv.initial_noise(case["seed"], count), dtype=np.float64).astype(np.float32).reshape(shape)
    cond = np.array([tv.conditioning(case["prompt"])], dtype=np.float64).astype(np.float32)
    steps = case["steps"]
    after = {}
    for k in range(1, steps + 1):
        feeds = {"latent": latent, "t": np.array([tv.timestep(k, steps)], dtype=np.float32), "conditioning": cond}
        if image is not None:
            feeds["image"] = image
        (latent,) = den.run(["latent_out"], feeds)
        after[k] = latent.copy()
    (frames,) = dec.run(["frames"], {"latent": latent})
    return after[10], latent, quantize(frames)


def frames_doc(rgb, rgb_file):
    return {
        "count": int(rgb.shape[0]),
        "height": int(rgb.shape[1]),
        "width": int(rgb.shape[2]),
        "mean_per_frame": [float(rgb[i].mean()) for i in range(rgb.shape[0])],
        "rgb_fnv1a64": f"{tv.fnv1a64(rgb.tobytes()):016x}",
        "rgb_file": rgb_file,
    }


def floats(a):
    return [float(v) for v in a.ravel()]


def image_reference(den_bytes, dec_bytes):
    """tiny-image's reference: the character sheet's image. Returns the document and its RGB bytes."""
    import onnxruntime as ort

    den, dec = sessions(den_bytes, dec_bytes)
    at_10, final, rgb = render(den, dec, tv.IMAGE_LATENT_SHAPE, IMAGE_REFERENCE)
    steps = IMAGE_REFERENCE["steps"]
    doc = {
        "about": "written by models/export_tiny.py with the Python onnxruntime; do not edit",
        "onnxruntime": ort.__version__,
        "prompt": IMAGE_REFERENCE["prompt"],
        "seed": IMAGE_REFERENCE["seed"],
        "steps": steps,
        "latent_shape": list(tv.IMAGE_LATENT_SHAPE),
        "timesteps": [float(tv.timestep(k, steps)) for k in range(1, steps + 1)],
        "latent_after_step_10": floats(at_10),
        "final_latent": floats(final),
        "frames": frames_doc(rgb, "reference_image.rgb"),
    }
    return doc, rgb.tobytes()


def video_reference(den_bytes, dec_bytes, image_rgb):
    """tiny-video's reference: the prompt without a reference image (the zero image), and the same
    prompt and seed conditioned on tiny-image's reference image (image to video)."""
    import onnxruntime as ort

    den, dec = sessions(den_bytes, dec_bytes)
    neutral = np.zeros(tv.VIDEO_IMAGE_SHAPE, dtype=np.float32)
    at_10, final, rgb = render(den, dec, tv.LATENT_SHAPE, REFERENCE, neutral)
    image = tv.image_input(image_rgb, tv.IMAGE_H, tv.IMAGE_W, tv.FRAME_H, tv.FRAME_W)
    i2v_10, i2v_final, i2v_rgb = render(den, dec, tv.LATENT_SHAPE, REFERENCE, image)
    count = int(np.prod(tv.LATENT_SHAPE))
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
    steps = REFERENCE["steps"]
    doc = {
        "about": "written by models/export_tiny.py with the Python onnxruntime; do not edit",
        "onnxruntime": ort.__version__,
        "prompt": REFERENCE["prompt"],
        "seed": REFERENCE["seed"],
        "steps": steps,
        "latent_shape": list(tv.LATENT_SHAPE),
        "timesteps": [float(tv.timestep(k, steps)) for k in range(1, steps + 1)],
        "derivation_cases": cases,
        "latent_after_step_10": floats(at_10),
        "final_latent": floats(final),
        "frames": frames_doc(rgb, "reference_frames.rgb"),
        "i2v": {
            "image": "../tiny-image/reference_image.rgb",
            "image_fnv1a64": f"{tv.fnv1a64(image_rgb):016x}",
            "image_input_fnv1a64": f"{tv.fnv1a64(image.astype('<f4').tobytes()):016x}",
            "latent_after_step_10": floats(i2v_10),
            "final_latent": floats(i2v_final),
            "frames": frames_doc(i2v_rgb, "reference_i2v_frames.rgb"),
        },
    }
    return doc, rgb.tobytes(), i2v_rgb.tobytes()


def export():
    """Every file of both models, by folder and name."""
    rng = np.random.Generator(np.random.PCG64(WEIGHT_SEED))
    i2v_rng = np.random.Generator(np.random.PCG64(I2V_WEIGHT_SEED))
    image_rng = np.random.Generator(np.random.PCG64(IMAGE_WEIGHT_SEED))
    v_den = video_denoise_graph(rng, i2v_rng).SerializeToString()
    v_dec = video_decode_graph(rng).SerializeToString()
    i_den = image_denoise_graph(image_rng).SerializeToString()
    i_dec = image_decode_graph(image_rng).SerializeToString()
    i_doc, image_rgb = image_reference(i_den, i_dec)
    v_doc, v_rgb, i2v_rgb = video_reference(v_den, v_dec, image_rgb)
    as_json = lambda d: (json.dumps(d, separators=(",", ":")) + "\n").encode()  # noqa: E731
    return {
        "tiny-video": {
            "denoise.onnx": v_den,
            "decode.onnx": v_dec,
            "reference.json": as_json(v_doc),
            "reference_frames.rgb": v_rgb,
            "reference_i2v_frames.rgb": i2v_rgb,
        },
        "tiny-image": {
            "denoise.onnx": i_den,
            "decode.onnx": i_dec,
            "reference.json": as_json(i_doc),
            "reference_image.rgb": image_rgb,
        },
    }


def close_latents(old, new, keys):
    for key in keys:
        a, b = np.array(old[key], dtype=np.float32), np.array(new[key], dtype=np.float32)
        if a.shape != b.shape or np.max(np.abs(a - b)) > 1e-5:
            return False
    return True


def close_pixels(old_rgb, new_rgb):
    a = np.frombuffer(old_rgb, dtype=np.uint8).astype(np.int16)
    b = np.frombuffer(new_rgb, dtype=np.uint8).astype(np.int16)
    return a.shape == b.shape and int(np.max(np.abs(a - b))) <= 1


def stale_files(model, on_disk, fresh):
    """The files on disk against a fresh export: identical graphs, inputs and shapes; latents within
    1e-5 and pixels within 1 (another CPU's kernels may round the last bit differently)."""
    stale = [n for n in ("denoise.onnx", "decode.onnx") if on_disk[n] != fresh[n]]
    old, new = json.loads(on_disk["reference.json"]), json.loads(fresh["reference.json"])
    same = all(old.get(k) == new.get(k) for k in
               ("prompt", "seed", "steps", "latent_shape", "timesteps", "derivation_cases"))
    same = same and close_latents(old, new, ("final_latent", "latent_after_step_10"))
    if model == "tiny-video":
        same = same and close_latents(old.get("i2v", {}), new["i2v"], ("final_latent", "latent_after_step_10"))
    pixels = [n for n in fresh if n.endswith(".rgb")]
    same = same and all(close_pixels(on_disk[n], fresh[n]) for n in pixels)
    if not same:
        stale.append(f"reference.json/{'/'.join(pixels)}")
    return [f"{model}/{n}" for n in stale]


def write(out_dir, files):
    for model, named in files.items():
        os.makedirs(os.path.join(out_dir, model), exist_ok=True)
        for name, data in named.items():
            path = os.path.join(out_dir, model, name)
            with open(path, "wb") as fh:
                fh.write(data)
            print(f"wrote {path} ({len(data)} bytes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    parser.add_argument("--fresh", metavar="DIR",
                        help="with --check: also write the fresh export under DIR (the Rust tests "
                             "compare ort against it bit for bit on the same machine)")
    args = parser.parse_args()
    files = export()
    if args.check:
        if args.fresh:
            write(args.fresh, files)
        stale = []
        for model, fresh in files.items():
            on_disk = {}
            for name in fresh:
                path = os.path.join(MODELS_DIR, model, name)
                if not os.path.isfile(path):
                    stale.append(f"{model}/{name} (missing)")
                    continue
                with open(path, "rb") as fh:
                    on_disk[name] = fh.read()
            if len(on_disk) == len(fresh):
                stale += stale_files(model, on_disk, fresh)
        if stale:
            sys.exit(f"differs from a fresh export: {', '.join(stale)}")
        print("models/tiny-video and models/tiny-image match a fresh export")
        return
    write(MODELS_DIR, files)


if __name__ == "__main__":
    main()
