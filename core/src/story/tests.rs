//! The script schema and the splitter.

use super::*;

const STORY: &str = "Mina finds a paper boat on the river. She follows it past the mill! \
    The boat stops at an old bridge. A heron watches her. She climbs down to the water. \
    The boat holds a note. The note has her grandmother's handwriting. Mina runs home.";

#[test]
fn the_splitter_gives_one_scene_per_shot_in_story_order() {
    for n in 1..=16 {
        let script = split(STORY, n);
        assert_eq!(script.scenes.len(), n);
        script.check(n).unwrap();
        assert_eq!(script.source, SPLITTER);
        // In order and nothing lost: the scenes joined give back the story's words.
        let joined: Vec<String> = script.scenes.iter().map(|s| s.text.clone()).collect();
        let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        if n <= 8 {
            assert_eq!(words(&joined.join(" ")), words(STORY), "n = {n}");
        }
        assert!(script
            .scenes
            .iter()
            .all(|s| s.prompt.contains(&script.character)));
    }
}

#[test]
fn the_splitter_is_deterministic_and_balanced() {
    assert_eq!(split(STORY, 4), split(STORY, 4));
    let lens: Vec<usize> = split(STORY, 4)
        .scenes
        .iter()
        .map(|s| s.text.chars().count())
        .collect();
    let (min, max) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
    assert!(max <= 3 * min, "{lens:?}");
}

#[test]
fn a_story_shorter_than_the_shot_count_still_fills_every_shot() {
    let script = split("Rain.", 3);
    script.check(3).unwrap();
    let script = split("A fox runs home tonight", 8);
    script.check(8).unwrap();
    let script = split("한 소녀가 숲에서 길을 잃었다. 여우가 길을 알려준다.", 2);
    assert_eq!(script.scenes[1].text, "여우가 길을 알려준다.");
}

#[test]
fn answers_are_checked_against_the_schema() {
    let good = r#"{"character":"a girl in a red coat","scenes":[{"text":"a","prompt":"p1"},{"text":"b","prompt":"p2"}]}"#;
    assert_eq!(Script::parse(good, 2).unwrap().scenes[1].prompt, "p2");
    assert!(matches!(
        Script::parse(good, 3),
        Err(ScriptError::WrongCount { got: 2, want: 3 })
    ));
    assert!(matches!(
        Script::parse("Sure! Here is your script:", 2),
        Err(ScriptError::NotJson(_))
    ));
    let empty = r#"{"character":"c","scenes":[{"text":"a","prompt":" "}]}"#;
    assert_eq!(
        Script::parse(empty, 1),
        Err(ScriptError::Empty("scenes[0].prompt".into()))
    );
    // The error says where, never what: an answer can quote the story.
    let quoting = r#"{"character":"c","scenes":"Mina's secret"}"#;
    let err = Script::parse(quoting, 1).unwrap_err().to_string();
    assert!(!err.contains("secret"), "{err}");
    assert!(err.contains("line 1 column"), "{err}");
    let extra = r#"{"character":"c","scenes":[],"mood":"x"}"#;
    assert!(matches!(
        Script::parse(extra, 0),
        Err(ScriptError::NotJson(_))
    ));
    // A script round-trips through its stored form.
    let s = split(STORY, 3);
    assert_eq!(Script::parse(&s.to_json(), 3).unwrap(), s);
}
