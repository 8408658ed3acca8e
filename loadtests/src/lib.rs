//! shotfarm's load-test driver and chaos harness: drives a farm from outside and audits every
//! event it saw against the farm's invariants.

pub mod audit;
pub mod chaos;
pub mod driver;
pub mod fanout;
pub mod hostile;
pub mod procfs;
pub mod ws_abuse;
pub mod ws_client;
