//! The OpenAI-compatible script executor against a chat-completions server of the tests' own on
//! a free port: what it asks, what it makes of the answers, and how it fails.

mod answers;
mod failures;
mod support;
