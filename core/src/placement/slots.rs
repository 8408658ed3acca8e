//! GPUs shared by several jobs: a node whose GPUs have `slots_per_gpu` above 1 (an LLM server
//! that batches requests) runs up to that many single-GPU jobs on one GPU at once. A job needing
//! more than one GPU still takes whole GPUs, every slot of them. [`GpuShares`] is who holds what
//! on one node, as the supervisor tracks it; [`SharedGpu`] is what [`super::plan`] sees of it.

use serde::Serialize;

use crate::ids::ShotId;

/// Whether a job placed on `gpus` GPUs of a node with `slots_per_gpu` holds one slot of its GPU
/// (shared with other jobs) rather than whole GPUs. The one rule, for placement, release and
/// cost alike.
pub fn holds_slot(slots_per_gpu: u32, gpus: usize) -> bool {
    slots_per_gpu > 1 && gpus == 1
}

/// A GPU that runs slotted jobs and has a slot left, as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SharedGpu {
    pub gpu: u32,
    pub free_slots: u32,
}

/// Which jobs hold each GPU of one node. Authoritative where it is kept: only the supervisor
/// assigns GPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuShares {
    slots_per_gpu: u32,
    /// Per GPU (by index), the jobs holding it: a whole-GPU job alone, or up to
    /// `slots_per_gpu` slotted jobs.
    holders: Vec<Vec<ShotId>>,
}

impl GpuShares {
    /// `gpus` GPUs (at most 64), every one free; `slots_per_gpu` at least 1.
    pub fn new(gpus: usize, slots_per_gpu: u32) -> Self {
        Self {
            slots_per_gpu: slots_per_gpu.max(1),
            holders: vec![Vec::new(); gpus.min(64)],
        }
    }

    pub fn slots_per_gpu(&self) -> u32 {
        self.slots_per_gpu
    }

    /// Records `shot` on `gpus` (what an assignment names). Indices past the node's GPUs are
    /// ignored.
    pub fn hold(&mut self, shot: &ShotId, gpus: &[u32]) {
        for &g in gpus {
            if let Some(h) = self.holders.get_mut(g as usize) {
                if !h.contains(shot) {
                    h.push(shot.clone());
                }
            }
        }
    }

    /// Frees what `shot` held on `gpus`: its slot only, when it shared a GPU.
    pub fn release(&mut self, shot: &ShotId, gpus: &[u32]) {
        for &g in gpus {
            if let Some(h) = self.holders.get_mut(g as usize) {
                h.retain(|s| s != shot);
            }
        }
    }

    /// Drops every holder (the node left).
    pub fn clear(&mut self) {
        self.holders.iter_mut().for_each(Vec::clear);
    }

    /// Bit `i` set: nothing runs on GPU `i`.
    pub fn free_gpus(&self) -> u64 {
        self.holders
            .iter()
            .enumerate()
            .filter(|(_, h)| h.is_empty())
            .fold(0, |mask, (i, _)| mask | 1u64 << i)
    }

    /// GPUs running something.
    pub fn busy_gpus(&self) -> u32 {
        self.holders.iter().filter(|h| !h.is_empty()).count() as u32
    }

    /// The jobs on GPU `i` (empty when it is free or out of range).
    pub fn jobs(&self, i: usize) -> &[ShotId] {
        self.holders.get(i).map_or(&[], Vec::as_slice)
    }

    /// GPUs shared by slotted jobs with a slot left, lowest index first. A GPU held by one job
    /// is never listed on a node without slots: there a job always holds the whole GPU.
    pub fn shared(&self) -> Vec<SharedGpu> {
        if self.slots_per_gpu == 1 {
            return Vec::new();
        }
        self.holders
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty() && (h.len() as u32) < self.slots_per_gpu)
            .filter(|(i, h)| !self.whole(*i, h))
            .map(|(i, h)| SharedGpu {
                gpu: i as u32,
                free_slots: self.slots_per_gpu - h.len() as u32,
            })
            .collect()
    }

    /// Whether GPU `i`'s one holder is a multi-GPU job (it holds the GPU whole): such a job
    /// holds other GPUs of the node too.
    fn whole(&self, i: usize, holders: &[ShotId]) -> bool {
        let [only] = holders else {
            return false;
        };
        self.holders
            .iter()
            .enumerate()
            .any(|(j, h)| j != i && h.contains(only))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slotted_jobs_share_a_gpu_and_each_release_frees_only_its_own_slot() {
        let mut shares = GpuShares::new(2, 3);
        let (a, b, gang) = (ShotId::from("a"), ShotId::from("b"), ShotId::from("gang"));
        shares.hold(&a, &[0]);
        shares.hold(&b, &[0]);
        assert_eq!(shares.jobs(0), &[a.clone(), b.clone()]);
        assert_eq!(shares.free_gpus(), 0b10);
        assert_eq!(
            shares.shared(),
            vec![SharedGpu {
                gpu: 0,
                free_slots: 1
            }]
        );
        shares.release(&a, &[0]);
        assert_eq!(shares.jobs(0), std::slice::from_ref(&b));
        assert_eq!(shares.shared()[0].free_slots, 2);
        shares.release(&b, &[0]);
        assert_eq!(shares.free_gpus(), 0b11);
        // A gang job holds both GPUs whole: no slot of them is offered.
        shares.hold(&gang, &[0, 1]);
        assert!(shares.shared().is_empty());
        assert_eq!(shares.busy_gpus(), 2);
    }

    #[test]
    fn a_node_without_slots_offers_no_shared_gpu() {
        let mut shares = GpuShares::new(1, 1);
        shares.hold(&ShotId::from("a"), &[0]);
        assert!(shares.shared().is_empty());
        assert_eq!(shares.free_gpus(), 0);
        assert!(!holds_slot(1, 1) && holds_slot(4, 1) && !holds_slot(4, 2));
    }
}
