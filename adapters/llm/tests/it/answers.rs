//! What the executor asks the server, and what it makes of the answers: a script completes the
//! job, anything else fails the attempt with what was wrong (the farm retries it).

use serde_json::json;

use crate::support::{llm, script_job, script_json, FakeLlm, Reply, Run, STORY};
use shotfarm_actors::ports::ExecEvent;
use shotfarm_core::story::{json_schema, Script};
use shotfarm_llm::OpenAiScriptExecutor;

#[actix_rt::test]
async fn a_valid_answer_completes_with_the_script_from_the_model() {
    let server = FakeLlm::start(vec![Reply::completion(&script_json(3))]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let run = Run::start(&exec, script_job(3, 1));
    let output = run.completed().await;
    let script = Script::parse(&output, 3).expect("a script");
    assert_eq!(script.source, "test-model");
    assert_eq!(script.scenes[2].prompt, "Mina, shot 2");
    let events = run.events();
    assert!(matches!(events.first(), Some(ExecEvent::Started { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, ExecEvent::Stepped { step: 1, .. })));
}

#[actix_rt::test]
async fn the_request_carries_the_model_key_format_and_story() {
    std::env::set_var("SHOTFARM_LLM_TEST_KEY_REQUEST", "sk-test-123");
    let server = FakeLlm::start(vec![Reply::completion(&script_json(4))]);
    let mut settings = llm(&format!("{}/", server.base_url));
    settings.api_key_env = Some("SHOTFARM_LLM_TEST_KEY_REQUEST".into());
    let exec = OpenAiScriptExecutor::new("llama", &settings).expect("executor");
    Run::start(&exec, script_job(4, 1)).completed().await;
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test-123"));
    assert_eq!(request.body["model"], "test-model");
    assert_eq!(request.body["max_tokens"], 4096);
    assert_eq!(request.body["temperature"], 0.2);
    assert_eq!(
        request.body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "script", "schema": json_schema(4), "strict": true}
        })
    );
    let messages = request.body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[0]["content"]
        .as_str()
        .expect("text")
        .contains("exactly 4 consecutive scenes"));
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[1]["content"], STORY);
}

#[actix_rt::test]
async fn without_api_key_env_no_authorization_is_sent() {
    let server = FakeLlm::start(vec![Reply::completion(&script_json(1))]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    Run::start(&exec, script_job(1, 1)).completed().await;
    assert_eq!(server.seen()[0].authorization, None);
}

#[actix_rt::test]
async fn non_json_then_valid_fails_the_first_attempt_and_completes_the_second() {
    let server = FakeLlm::start(vec![
        Reply::completion("Sure! Here is your script: Mina finds a boat..."),
        Reply::completion(&script_json(2)),
    ]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let error = Run::start(&exec, script_job(2, 1)).failed().await;
    assert!(
        error.starts_with("LLM answer is not a script: the script is not JSON"),
        "{error}"
    );
    let output = Run::start(&exec, script_job(2, 2)).completed().await;
    assert_eq!(Script::parse(&output, 2).expect("script").scenes.len(), 2);
}

#[actix_rt::test]
async fn an_answer_that_is_never_a_script_fails_every_attempt() {
    let server = FakeLlm::start(vec![Reply::completion("I cannot help with that.")]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    for attempt in 1..=3 {
        let error = Run::start(&exec, script_job(2, attempt)).failed().await;
        assert!(error.starts_with("LLM answer is not a script"), "{error}");
    }
    assert_eq!(server.seen().len(), 3);
}

#[actix_rt::test]
async fn a_wrong_scene_count_or_shape_is_named_without_quoting_the_answer() {
    let server = FakeLlm::start(vec![
        Reply::completion(&script_json(3)),
        Reply::completion(r#"{"character": "Mina", "scenes": "Mina walks home"}"#),
    ]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    let error = Run::start(&exec, script_job(8, 1)).failed().await;
    assert_eq!(
        error,
        "LLM answer is not a script: the script has 3 scenes, 8 were asked for"
    );
    let error = Run::start(&exec, script_job(8, 2)).failed().await;
    assert!(error.contains("another shape"), "{error}");
    assert!(!error.contains("walks home"), "{error}");
}

#[actix_rt::test]
async fn a_json_answer_in_a_code_fence_is_a_script() {
    let fenced = format!("```json\n{}\n```", script_json(2));
    let server = FakeLlm::start(vec![Reply::completion(&fenced)]);
    let mut settings = llm(&server.base_url);
    settings.json_response_format = false;
    let exec = OpenAiScriptExecutor::new("llama", &settings).expect("executor");
    Run::start(&exec, script_job(2, 1)).completed().await;
    assert!(server.seen()[0].body.get("response_format").is_none());
}

#[actix_rt::test]
async fn a_server_refusing_json_schema_is_asked_for_json_object_from_then_on() {
    let server = FakeLlm::start(vec![
        Reply::error(400, "BadRequestError"),
        Reply::completion(&script_json(2)),
    ]);
    let exec = OpenAiScriptExecutor::new("llama", &llm(&server.base_url)).expect("executor");
    Run::start(&exec, script_job(2, 1)).completed().await;
    Run::start(&exec, script_job(2, 2)).completed().await;
    let formats: Vec<String> = server
        .seen()
        .iter()
        .map(|s| {
            s.body["response_format"]["type"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(formats, ["json_schema", "json_object", "json_object"]);
}
