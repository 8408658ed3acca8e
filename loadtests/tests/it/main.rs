//! The load driver's tests, one binary: small runs of every scenario, the chaos run and the
//! capacity plan against real in-process farms, and an audit that must catch a planted breach.

mod chaos_small;
mod farm_check_small;
mod plan_small;
mod plan_stories_small;
mod planted_breach;
mod scenarios_small;
mod stories_small;
mod support;
