//! The root crate's black-box tests, one binary: each module starts a real server (in process,
//! or the `shotfarm` binary where the process itself is what is tested) on `127.0.0.1:0` and
//! talks real HTTP and websockets to it; `support` holds what they share.

mod agent_enroll;
mod agent_scope;
mod agent_tls;
mod agents;
mod api_auth;
mod api_flow;
mod api_validation;
mod artifact_store;
mod artifacts;
mod audit_log;
mod autoscaler;
mod banner;
mod credits_limits;
mod dashboard_fleet;
mod dashboard_page;
mod deploy_manifests;
mod fanout_bench;
mod faults;
mod gpu_check;
mod hardening;
mod holds;
mod hostile_input;
mod isolation;
mod live_previews;
mod llm_slots;
mod load_target;
mod metrics;
mod monitoring;
mod operator_stream;
mod preview_page;
mod progress_page;
mod progress_ws;
mod redis_durability;
mod redis_farm;
mod redis_idempotency;
mod reroll;
mod sealing;
mod story;
mod story_faults;
mod story_page;
mod support;
mod video_control;
mod ws_client;
mod ws_control_flood;
