"""The bundled models' input contract (tiny-video and tiny-image), shared by the export script and
the benchmark.

How a prompt and a seed become the initial noise and the conditioning, which timestep each
denoising step gets, and how a reference image's RGB bytes become tiny-video's image input. The
Rust side (adapters/onnx/src/inputs.rs) implements exactly this; the reference files written by
export_tiny.py pin both to the same bits.

Everything is integer arithmetic or IEEE double additions, multiplications and one square root, in
a fixed order, so Python and Rust agree bit for bit.
"""

import math

MASK64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
GOLDEN = 0x9E3779B97F4A7C15
NOISE_DOMAIN = 0x6E6F697365  # b"noise"
SQRT3 = 1.7320508075688772

# Model shape: latent [batch, channels, frames, height, width]; conditioning [batch, COND_DIM].
LATENT_SHAPE = (1, 4, 8, 8, 8)
COND_DIM = 32
FRAMES, FRAME_H, FRAME_W = 8, 64, 64
# tiny-video's image conditioning: the reference image as [1, IMAGE_H, IMAGE_W, 3] RGB in [0, 1];
# a shot without a reference gets zeros (the neutral image), which leaves every step exactly as
# the model without an image input computed it.
VIDEO_IMAGE_SHAPE = (1, FRAME_H, FRAME_W, 3)

# tiny-image: latent [batch, channels, height, width]; one IMAGE_H x IMAGE_W RGB image out.
IMAGE_LATENT_SHAPE = (1, 4, 16, 16)
IMAGE_H, IMAGE_W = 64, 64


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def splitmix64(x: int) -> int:
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class XorShift64Star:
    """xorshift64*: small, fast, and trivially the same in every language."""

    def __init__(self, seed: int):
        self.state = (seed & MASK64) or GOLDEN

    def next_u64(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK64
        s ^= s >> 27
        self.state = s
        return (s * 0x2545F4914F6CDD1D) & MASK64

    def uniform(self) -> float:
        """[0, 1) with 24 bits: exact in both f32 and f64."""
        return (self.next_u64() >> 40) / 16777216.0


def initial_noise(seed: int, count: int) -> list:
    """`count` roughly N(0, 1) values (Irwin-Hall of 4 uniforms, rescaled), row-major over the
    latent shape. The seed alone decides the noise, as in any diffusion sampler."""
    rng = XorShift64Star(splitmix64((seed & MASK64) ^ NOISE_DOMAIN))
    out = []
    for _ in range(count):
        s = rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform()
        out.append((s - 2.0) * SQRT3)
    return out


def tokens(prompt: str) -> list:
    """Maximal runs of ASCII letters/digits and non-ASCII bytes of the UTF-8 prompt, with ASCII
    letters lowercased (no Unicode case mapping: it differs between library versions)."""
    out, cur = [], bytearray()
    for b in prompt.encode("utf-8"):
        if 0x41 <= b <= 0x5A:
            cur.append(b + 32)
        elif 0x61 <= b <= 0x7A or 0x30 <= b <= 0x39 or b >= 0x80:
            cur.append(b)
        elif cur:
            out.append(bytes(cur))
            cur = bytearray()
    if cur:
        out.append(bytes(cur))
    return out


def conditioning(prompt: str, dim: int = COND_DIM) -> list:
    """A bag-of-words embedding: each token hashes to a fixed direction, the prompt is the unit
    mean of its tokens' directions (zeros when it has no token)."""
    acc = [0.0] * dim
    for tok in tokens(prompt):
        rng = XorShift64Star(splitmix64(fnv1a64(tok)))
        for d in range(dim):
            acc[d] += rng.uniform() * 2.0 - 1.0
    norm_sq = 0.0
    for v in acc:
        norm_sq += v * v
    if norm_sq == 0.0:
        return acc
    norm = math.sqrt(norm_sq)
    return [v / norm for v in acc]


def timestep(step: int, steps: int):
    """The `t` fed to denoising step `step` (1-based) of `steps`: f32((steps - step + 1) / steps)."""
    import numpy as np

    return np.float32(steps - step + 1) / np.float32(steps)


def image_input(rgb: bytes, height: int, width: int, out_h: int, out_w: int):
    """A reference image's RGB bytes (row-major, `height` x `width`) as the float32 image input
    [1, out_h, out_w, 3]: nearest-neighbour resampling in integers (source row `y * height //
    out_h`, column likewise), then each byte / 255 in float32."""
    import numpy as np

    src = np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3)
    ys = (np.arange(out_h, dtype=np.int64) * height) // out_h
    xs = (np.arange(out_w, dtype=np.int64) * width) // out_w
    picked = src[ys][:, xs]
    return (picked.astype(np.float32) / np.float32(255.0)).reshape(1, out_h, out_w, 3)
