//! A checkpoint and its byte format: what a node saves after a step and any later attempt reads
//! back, whatever store holds it.

/// First bytes of a checkpoint (format version 1).
const MAGIC: &[u8; 8] = b"SFLATNT1";
/// Dimensions a latent may have (guards against reading garbage as a shape).
const MAX_DIMS: usize = 8;

/// A shot's latent after `step`, with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub step: u32,
    pub shape: Vec<usize>,
    pub latent: Vec<f32>,
}

impl Checkpoint {
    /// `MAGIC`, step (u32), dims count (u32), dims (u64 each), then the values (f32),
    /// little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.shape.len() * 8 + self.latent.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&(self.shape.len() as u32).to_le_bytes());
        for &d in &self.shape {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        for v in &self.latent {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads what [`Self::encode`] wrote; says why anything else is not a checkpoint.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a checkpoint")?;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err("truncated".into());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let step = u32_of(take(4)?);
        let dims = u32_of(take(4)?) as usize;
        if dims == 0 || dims > MAX_DIMS {
            return Err(format!("{dims} dimensions"));
        }
        let mut shape = Vec::with_capacity(dims);
        for _ in 0..dims {
            let b = take(8)?;
            let d = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            shape.push(usize::try_from(d).map_err(|_| "dimension too large")?);
        }
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or("shape overflows")?;
        let data = take(len.checked_mul(4).ok_or("shape overflows")?)?;
        if !rest.is_empty() {
            return Err("trailing bytes".into());
        }
        let latent = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            step,
            shape,
            latent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_damage_is_named() {
        let cp = Checkpoint {
            step: 3,
            shape: vec![1, 2, 3],
            latent: vec![0.5, -1.0, f32::MIN_POSITIVE, 7.25, 0.0, -0.0],
        };
        let bytes = cp.encode();
        assert_eq!(Checkpoint::decode(&bytes), Ok(cp));
        assert_eq!(
            Checkpoint::decode(&bytes[..bytes.len() - 1]),
            Err("truncated".into())
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Checkpoint::decode(&longer), Err("trailing bytes".into()));
        assert!(Checkpoint::decode(b"GIF89a").is_err());
    }
}
