//! Flow control by ping and pong: how many bytes a client has been sent but has not yet shown it
//! read. Pings go out in order with the data, numbered; a pong echoes its ping's number, so it
//! proves the client read everything written before that ping.
//!
//! Why: the kernel's send buffer on a connection grows by itself (to megabytes with
//! `tcp_wmem`'s default maximum), so a client that stops reading can soak up that much before
//! the session's own outbox ever fills. Counting unacknowledged bytes bounds what is in flight
//! to one window whatever the kernel does, and lets the session drop the backlog for a fresh
//! snapshot instead.

use std::collections::VecDeque;

/// Pings awaiting their pong; older ones are forgotten (a later pong acknowledges more anyway).
const MAX_OUTSTANDING: usize = 32;

/// The session's count of bytes sent and acknowledged.
#[derive(Debug)]
pub struct Flow {
    window: u64,
    /// Bytes queued for the client so far.
    sent: u64,
    /// Bytes the client has shown it read (`sent` when an acknowledged ping went out).
    acked: u64,
    /// `sent` when the last ping went out.
    pinged_at: u64,
    next_id: u64,
    /// (ping number, `sent` when it went out), oldest first.
    outstanding: VecDeque<(u64, u64)>,
}

impl Flow {
    /// At most `window` bytes unacknowledged.
    pub fn new(window: u64) -> Self {
        Self {
            window,
            sent: 0,
            acked: 0,
            pinged_at: 0,
            next_id: 1,
            outstanding: VecDeque::new(),
        }
    }

    /// Counts bytes queued for the client.
    pub fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }

    /// At most this many bytes of data go unacknowledged.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// The server's pings the client has not answered yet (of the last few).
    pub fn unanswered(&self) -> usize {
        self.outstanding.len()
    }

    /// Bytes sent and not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.sent - self.acked
    }

    /// Whether the client is a whole window behind: write nothing more for now.
    pub fn over_window(&self) -> bool {
        self.unacked() > self.window
    }

    /// Whether the client has caught up enough to be sent a snapshot and go live again.
    pub fn caught_up(&self) -> bool {
        self.unacked() <= self.window / 4
    }

    /// Whether a quarter window has gone out since the last ping, so another should follow.
    pub fn ping_due(&self) -> bool {
        self.sent - self.pinged_at >= self.window / 4
    }

    /// Records a ping going out now and returns its payload (its number).
    pub fn ping(&mut self) -> [u8; 8] {
        let id = self.next_id;
        self.next_id += 1;
        self.pinged_at = self.sent;
        self.outstanding.push_back((id, self.sent));
        if self.outstanding.len() > MAX_OUTSTANDING {
            self.outstanding.pop_front();
        }
        id.to_be_bytes()
    }

    /// Applies a pong; true when it acknowledged more bytes. Unsolicited pongs and pongs to
    /// forgotten pings change nothing.
    pub fn pong(&mut self, payload: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
            return false;
        };
        let id = u64::from_be_bytes(bytes);
        let Some(pos) = self.outstanding.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        let (_, at) = self.outstanding[pos];
        self.outstanding.drain(..=pos);
        let more = at > self.acked;
        self.acked = self.acked.max(at);
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pong_acknowledges_what_went_before_its_ping() {
        let mut f = Flow::new(1000);
        f.sent(300);
        let first = f.ping();
        f.sent(400);
        let second = f.ping();
        f.sent(100);
        assert_eq!(f.unacked(), 800);
        assert!(f.pong(&first));
        assert_eq!(f.unacked(), 500);
        assert!(!f.pong(&first), "a repeated pong acknowledges nothing more");
        assert_eq!(f.unanswered(), 1);
        assert!(f.pong(&second));
        assert_eq!(f.unacked(), 100);
        assert_eq!(f.unanswered(), 0);
    }

    #[test]
    fn the_window_stops_writes_and_a_quarter_resumes_them() {
        let mut f = Flow::new(1000);
        f.sent(600);
        assert!(f.ping_due());
        let p = f.ping();
        assert!(!f.ping_due());
        f.sent(500);
        assert!(f.over_window());
        assert!(!f.caught_up());
        f.pong(&p);
        assert!(!f.over_window());
        assert!(!f.caught_up(), "500 bytes still unacknowledged");
        let q = f.ping();
        f.pong(&q);
        assert!(f.caught_up());
    }

    #[test]
    fn foreign_pongs_are_ignored() {
        let mut f = Flow::new(1000);
        f.sent(10);
        assert!(!f.pong(b""));
        assert!(!f.pong(&42u64.to_be_bytes()));
        assert_eq!(f.unacked(), 10);
    }

    #[test]
    fn old_pings_are_forgotten_but_later_pongs_still_count() {
        let mut f = Flow::new(1000);
        let first = f.ping();
        let mut last = first;
        for _ in 0..MAX_OUTSTANDING + 5 {
            f.sent(1);
            last = f.ping();
        }
        assert!(!f.pong(&first));
        assert!(f.pong(&last));
        assert_eq!(f.unacked(), 0);
    }
}
