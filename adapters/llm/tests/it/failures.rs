//! How attempts fail: HTTP errors, a server past the timeout, no server, a missing key, and a
//! stop. Each ends in one `Failed` (or `Stopped`) naming what to check, never a hang.

use std::time::Duration;

use crate::support::{llm, script_job, script_json, FakeLlm, Reply, Run};
use shotfarm_actors::ports::ExecEvent;
use shotfarm_llm::OpenAiScriptExecutor;

#[actix_rt::test]
async fn a_server_error_fails_the_attempt_without_echoing_the_body() {
    let server = FakeLlm::start(vec![Reply::error(500, "InternalServerError")]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert_eq!(
        error,
        format!(
            "the LLM server at {}/chat/completions answered 500 Internal Server Error \
             (InternalServerError) (a server error)",
            server.base_url
        )
    );
    assert!(!error.contains("Mina"), "{error}");
    // Only a 400 to json_schema is asked again.
    assert_eq!(server.seen().len(), 1);
}

#[actix_rt::test]
async fn rate_limiting_and_a_refused_request_say_what_to_check() {
    let server = FakeLlm::start(vec![
        Reply::error(429, "rate_limit_exceeded"),
        Reply::error(400, "BadRequestError"),
    ]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(error.contains("answered 429 Too Many Requests"), "{error}");
    // json_schema refused, then json_object refused too: the second 400 is the error, and the
    // schema stays on for the next attempt (the fallback never worked).
    let error = Run::start(&exec, script_job(2, 2)).failed().await;
    assert!(error.contains("answered 400 Bad Request"), "{error}");
    assert!(error.contains("context"), "{error}");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].body["response_format"]["type"], "json_object");
}

#[actix_rt::test]
async fn a_server_slower_than_the_timeout_fails_the_attempt_at_the_timeout() {
    // The server would answer after ten minutes; the test's wait gives up long before that, so
    // a Failed can only come from the executor's own timeout.
    let server = FakeLlm::start(vec![
        Reply::completion(&script_json(2)).after(Duration::from_secs(600))
    ]);
    let mut settings = llm(&server.base_url);
    settings.timeout = Duration::from_millis(300);
    let exec = OpenAiScriptExecutor::new("llama", &settings).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(error.contains("did not answer within 300ms"), "{error}");
    assert!(error.contains("models.llama.llm.timeout"), "{error}");
}

#[actix_rt::test]
async fn no_server_at_the_url_fails_saying_it_cannot_reach_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let exec = OpenAiScriptExecutor::new("llama", &llm(&format!("http://127.0.0.1:{port}/v1")))
        .expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(
        error.starts_with(&format!(
            "cannot reach the LLM server at http://127.0.0.1:{port}/v1/chat/completions"
        )),
        "{error}"
    );
}

#[actix_rt::test]
async fn an_unset_key_variable_fails_naming_it_and_sends_nothing() {
    let server = FakeLlm::start(vec![Reply::completion(&script_json(2))]);
    let mut settings = llm(&server.base_url);
    settings.api_key_env = Some("SHOTFARM_LLM_TEST_KEY_NEVER_SET".into());
    let exec = OpenAiScriptExecutor::new("llama", &settings).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(
        error.starts_with(
            "the LLM API key variable SHOTFARM_LLM_TEST_KEY_NEVER_SET is not set \
             (models.llama.llm.api_key_env names it"
        ),
        "{error}"
    );
    assert!(server.seen().is_empty());
}

#[actix_rt::test]
async fn a_refused_key_names_its_variable() {
    std::env::set_var("SHOTFARM_LLM_TEST_KEY_REFUSED", "sk-wrong");
    let server = FakeLlm::start(vec![Reply::error(401, "invalid_api_key")]);
    let mut settings = llm(&server.base_url);
    settings.api_key_env = Some("SHOTFARM_LLM_TEST_KEY_REFUSED".into());
    let exec = OpenAiScriptExecutor::new("llama", &settings).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(error.contains("answered 401 Unauthorized"), "{error}");
    assert!(
        error.contains("check the key in SHOTFARM_LLM_TEST_KEY_REFUSED"),
        "{error}"
    );
    assert!(!error.contains("sk-wrong"), "{error}");
}

#[actix_rt::test]
async fn stop_drops_the_request_and_reports_the_step_it_started_from() {
    let server = FakeLlm::start(vec![
        Reply::completion(&script_json(2)).after(Duration::from_secs(600))
    ]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let run = Run::start(&exec, script_job(2, 1));
    // Stopped once the request is at the server.
    for _ in 0..3_000 {
        if !server.seen().is_empty() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.seen().len(), 1);
    run.handle.stop();
    assert!(
        matches!(
            run.last().await,
            ExecEvent::Stopped {
                checkpoint_step: 0,
                ..
            }
        ),
        "{:?}",
        run.events()
    );
}

#[actix_rt::test]
async fn a_job_asking_for_no_scenes_fails_without_a_request() {
    let server = FakeLlm::start(vec![Reply::completion(&script_json(1))]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let error = Run::start(&exec, script_job(0, 1)).failed().await;
    assert_eq!(error, "a script job needs inputs.shot_count of at least 1");
    assert!(server.seen().is_empty());
}
