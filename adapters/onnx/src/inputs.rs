//! How a shot's prompt and seed become the model's inputs: the initial noise (from the seed), the
//! conditioning vector (from the prompt), each step's timestep, and the image input an
//! image-to-video model takes from the reference image's pixels. `models/tiny_video.py` is the
//! same derivation in Python; the models' `reference.json` files pin both to the same bits.
//!
//! Only integer arithmetic and IEEE double additions, multiplications, one division and one
//! square root, in a fixed order, so every platform and both languages agree exactly.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
/// `b"noise"`: keeps the noise stream apart from any other use of the seed.
const NOISE_DOMAIN: u64 = 0x6e_6f69_7365;
const SQRT3: f64 = 1.732_050_807_568_877_2;

/// FNV-1a, 64 bits.
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// SplitMix64's finaliser: spreads a seed over all 64 bits.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xorshift64*: small, fast, and trivially the same in every language.
#[derive(Clone, Debug)]
pub struct XorShift64Star(u64);

impl XorShift64Star {
    /// A generator from `seed` (a zero state would stay zero, so it becomes the golden ratio).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { GOLDEN } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        self.0 = s;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)` with 24 bits, exact in both `f32` and `f64`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 40) as f64 / 16_777_216.0
    }
}

/// `count` roughly standard-normal values (Irwin-Hall of four uniforms, rescaled to variance 1),
/// row-major over the latent. The seed alone decides the noise, as in any diffusion sampler.
pub fn initial_noise(seed: u64, count: usize) -> Vec<f32> {
    let mut rng = XorShift64Star::new(splitmix64(seed ^ NOISE_DOMAIN));
    (0..count)
        .map(|_| {
            let s = rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform();
            ((s - 2.0) * SQRT3) as f32
        })
        .collect()
}

/// The prompt's tokens: maximal runs of ASCII letters and digits and non-ASCII bytes of its
/// UTF-8, ASCII letters lowercased (Unicode case mapping is left out: it changes between versions).
pub fn tokens(prompt: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &b in prompt.as_bytes() {
        if b.is_ascii_alphanumeric() || b >= 0x80 {
            cur.push(b.to_ascii_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A bag-of-words embedding of `dim` values: each token hashes to a fixed direction; the prompt
/// is the unit-length sum of its tokens' directions (zeros when it has no token).
pub fn conditioning(prompt: &str, dim: usize) -> Vec<f32> {
    let mut acc = vec![0.0_f64; dim];
    for token in tokens(prompt) {
        let mut rng = XorShift64Star::new(splitmix64(fnv1a64(&token)));
        for v in &mut acc {
            *v += rng.uniform() * 2.0 - 1.0;
        }
    }
    let norm_sq = acc.iter().fold(0.0_f64, |s, v| s + v * v);
    if norm_sq == 0.0 {
        return vec![0.0; dim];
    }
    let norm = norm_sq.sqrt();
    acc.iter().map(|v| (v / norm) as f32).collect()
}

/// The `t` fed to denoising step `step` (1-based) of `steps`: 1 for the first, `1/steps` for the
/// last, computed in `f32`.
pub fn timestep(step: u32, steps: u32) -> f32 {
    (steps.saturating_sub(step) + 1) as f32 / steps.max(1) as f32
}

/// A reference image's RGB bytes (`height × width × 3`, row-major) as an image input of
/// `out_h × out_w × 3` values in `[0, 1]`: nearest-neighbour resampling in integers (source row
/// `y × height / out_h`, column likewise), then each byte `/ 255` in `f32`. `None` when `rgb`
/// is not `height × width × 3` bytes.
pub fn image_input(
    rgb: &[u8],
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
) -> Option<Vec<f32>> {
    if height == 0 || width == 0 || rgb.len() != height * width * 3 {
        return None;
    }
    let mut out = Vec::with_capacity(out_h * out_w * 3);
    for y in 0..out_h {
        let row = (y * height / out_h) * width;
        for x in 0..out_w {
            let at = (row + x * width / out_w) * 3;
            out.extend(rgb[at..at + 3].iter().map(|&b| f32::from(b) / 255.0));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generators_match_their_published_values() {
        // FNV-1a test vectors from the algorithm's authors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // SplitMix64 from state 0: the first output of the reference implementation.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn tokens_split_on_ascii_punctuation_and_keep_other_bytes() {
        let t = tokens("  A Fox-in SNOW, ünï 42!");
        let words: Vec<&[u8]> = t.iter().map(Vec::as_slice).collect();
        assert_eq!(
            words,
            vec![&b"a"[..], b"fox", b"in", b"snow", "ünï".as_bytes(), b"42"]
        );
        assert!(tokens("... ,;").is_empty());
    }

    #[test]
    fn conditioning_is_unit_length_or_zero() {
        let c = conditioning("a fox in snow", 32);
        let norm: f32 = c.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(conditioning("--", 8), vec![0.0; 8]);
        // Case and punctuation do not change what a prompt means here.
        assert_eq!(conditioning("A FOX, in snow!", 32), c);
    }

    #[test]
    fn noise_has_roughly_unit_variance_and_depends_only_on_the_seed() {
        let n = initial_noise(7, 4096);
        let mean = n.iter().map(|&v| f64::from(v)).sum::<f64>() / 4096.0;
        let var = n
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / 4096.0;
        assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        assert_eq!(initial_noise(7, 16), n[..16]);
        assert_ne!(initial_noise(8, 16), n[..16]);
    }

    #[test]
    fn an_image_input_scales_bytes_and_resamples_to_the_nearest_pixel() {
        // 2x2 -> 4x4: every source pixel becomes a 2x2 block.
        let rgb: Vec<u8> = (0..12).map(|i| i * 20).collect();
        let out = image_input(&rgb, 2, 2, 4, 4).expect("sizes match");
        assert_eq!(out.len(), 48);
        assert_eq!(out[..3], [0.0, 20.0 / 255.0, 40.0 / 255.0]);
        assert_eq!(out[3..6], out[..3], "column 1 is source column 0");
        assert_eq!(out[6..9], [60.0 / 255.0, 80.0 / 255.0, 100.0 / 255.0]);
        assert_eq!(
            out[12 * 2..12 * 2 + 3],
            [120.0 / 255.0, 140.0 / 255.0, 160.0 / 255.0]
        );
        // Same size: the bytes / 255, in order.
        let same = image_input(&rgb, 2, 2, 2, 2).expect("same size");
        assert_eq!(
            same,
            rgb.iter()
                .map(|&b| f32::from(b) / 255.0)
                .collect::<Vec<_>>()
        );
        assert_eq!(image_input(&rgb, 3, 2, 2, 2), None);
    }

    #[test]
    fn timesteps_run_from_one_down_to_one_over_steps() {
        assert_eq!(timestep(1, 20), 1.0);
        assert_eq!(timestep(20, 20), 0.05);
        assert_eq!(timestep(11, 20), 0.5);
    }
}
