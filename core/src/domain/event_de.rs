//! Reading a [`FarmEvent`] without buffering it: the `type` tag is looked for among the first
//! two members and the rest goes straight to the shot or video event's own reader.
//!
//! Why: serde's derived reader of an internally tagged enum cannot know where the tag is, so it
//! first copies the whole object into an untyped buffer (`Content`) and reads the event from
//! that; for an event that was about half of its reading, on every websocket frame the load
//! driver reads and every event a Redis server takes from its feed. Every writer puts the tag
//! first (serde) or second after `seq` (the Redis write script, which assigns the seq); an
//! object with the tag anywhere else is still read, through a `serde_json::Map`.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, StrDeserializer, U64Deserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::event::{FarmEvent, ShotEvent, VideoEvent};

impl<'de> Deserialize<'de> for FarmEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

/// A member name: the two the tag is looked for among, without allocating for them.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Type,
    Seq,
    Other(String),
}

/// The tag's value.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Shot,
    Video,
}

impl Kind {
    /// The event of this kind from the members left (`seq` first where it was read already).
    fn read<'de, D: Deserializer<'de>>(self, rest: D) -> Result<FarmEvent, D::Error> {
        match self {
            Kind::Shot => ShotEvent::deserialize(rest).map(FarmEvent::Shot),
            Kind::Video => VideoEvent::deserialize(rest).map(FarmEvent::Video),
        }
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = FarmEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a farm event: an object whose \"type\" is \"shot\" or \"video\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FarmEvent, A::Error> {
        let mut seq = None;
        loop {
            match map.next_key::<Key>()? {
                Some(Key::Type) => {
                    let kind: Kind = map.next_value()?;
                    let rest = SeqFirst { seq, map };
                    return kind.read(MapAccessDeserializer::new(rest));
                }
                Some(Key::Seq) if seq.is_none() => seq = Some(map.next_value::<u64>()?),
                Some(Key::Seq) => return Err(de::Error::duplicate_field("seq")),
                Some(Key::Other(name)) => return tag_later(seq, name, map),
                None => return Err(de::Error::missing_field("type")),
            }
        }
    }
}

/// An object whose tag comes after another member: read whole, then by its tag.
fn tag_later<'de, A: MapAccess<'de>>(
    seq: Option<u64>,
    first: String,
    mut map: A,
) -> Result<FarmEvent, A::Error> {
    let mut members = serde_json::Map::new();
    if let Some(seq) = seq {
        members.insert("seq".into(), seq.into());
    }
    let value = map.next_value()?;
    members.insert(first, value);
    while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
        members.insert(name, value);
    }
    let kind = match members.remove("type") {
        Some(kind) => Kind::deserialize(kind).map_err(de::Error::custom)?,
        None => return Err(de::Error::missing_field("type")),
    };
    kind.read(serde_json::Value::Object(members))
        .map_err(de::Error::custom)
}

/// The members after the tag, with `seq` given back first where it came before the tag.
struct SeqFirst<A> {
    seq: Option<u64>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SeqFirst<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.seq.is_some() {
            let name: StrDeserializer<A::Error> = "seq".into_deserializer();
            return seed.deserialize(name).map(Some);
        }
        self.map.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.seq.take() {
            Some(seq) => {
                let value: U64Deserializer<A::Error> = seq.into_deserializer();
                seed.deserialize(value)
            }
            None => self.map.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map
            .size_hint()
            .map(|n| n + usize::from(self.seq.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::{ShotPreview, ShotState, Stage, VideoState};
    use crate::ids::{NodeId, ShotId, VideoId};

    fn shot() -> FarmEvent {
        let ts = Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 36).unwrap();
        FarmEvent::Shot(ShotEvent {
            seq: 17,
            video_id: VideoId::from("vid_a"),
            shot_id: ShotId::from("shot_a_7"),
            index: 7,
            stage: Stage::Shot,
            state: ShotState::Running,
            step: 4,
            steps: 10,
            progress: 0.4,
            attempt: 2,
            version: 1,
            node: Some(NodeId::from("node-3")),
            eta: Some(ts + chrono::Duration::milliseconds(1500)),
            error: None,
            ts,
            preview: Some(ShotPreview::new(4, "image/png", b"\x89PNG").expect("preview")),
        })
    }

    fn video() -> FarmEvent {
        FarmEvent::Video(VideoEvent {
            seq: 18,
            video_id: VideoId::from("vid_a"),
            state: VideoState::Completed,
            progress: 1.0,
            eta: None,
            ts: Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 37).unwrap(),
        })
    }

    fn members(e: &FarmEvent) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(e).expect("to value") {
            serde_json::Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// The object's members in the order given by `names` (the others after them).
    fn ordered(e: &FarmEvent, names: &[&str]) -> String {
        let mut m = members(e);
        let mut parts: Vec<String> = names
            .iter()
            .map(|n| format!("{:?}:{}", n, m.remove(*n).expect("member")))
            .collect();
        parts.extend(m.iter().map(|(k, v)| format!("{k:?}:{v}")));
        format!("{{{}}}", parts.join(","))
    }

    #[test]
    fn events_read_back_as_serde_writes_them() {
        for e in [shot(), video()] {
            let text = serde_json::to_string(&e).expect("serialize");
            assert!(text.starts_with("{\"type\":"), "{text}");
            assert_eq!(serde_json::from_str::<FarmEvent>(&text).expect("read"), e);
            let value = serde_json::to_value(&e).expect("to value");
            assert_eq!(serde_json::from_value::<FarmEvent>(value).expect("read"), e);
        }
    }

    #[test]
    fn the_tag_is_found_after_seq_and_anywhere_else() {
        for e in [shot(), video()] {
            for names in [
                &["seq", "type"][..],
                &["video_id", "type"],
                &["seq", "video_id", "type"],
                &["ts", "seq", "state", "type"],
            ] {
                let text = ordered(&e, names);
                let back = serde_json::from_str::<FarmEvent>(&text);
                assert_eq!(back.expect(&text), e, "{text}");
            }
            let last: Vec<String> = members(&e)
                .keys()
                .filter(|k| *k != "type")
                .cloned()
                .collect();
            let mut names: Vec<&str> = last.iter().map(String::as_str).collect();
            names.push("type");
            let text = ordered(&e, &names);
            assert_eq!(serde_json::from_str::<FarmEvent>(&text).expect(&text), e);
        }
    }

    #[test]
    fn what_is_not_an_event_is_named() {
        let err = |text: &str| {
            serde_json::from_str::<FarmEvent>(text)
                .expect_err(text)
                .to_string()
        };
        assert!(err(r#"{"type":"node","seq":1}"#).contains("unknown variant `node`"));
        assert!(err(r#"{"seq":1,"video_id":"v","type":"gpu"}"#).contains("unknown variant `gpu`"));
        assert!(err(r#"{"seq":1,"video_id":"v"}"#).contains("missing field `type`"));
        assert!(err(r#"{"seq":1}"#).contains("missing field `type`"));
        assert!(err(r#"{"seq":1,"seq":2,"type":"video"}"#).contains("duplicate field `seq`"));
        assert!(err(r#"{"type":"video","seq":1}"#).contains("missing field `video_id`"));
        assert!(err(r#"{"seq":"one","type":"video"}"#).contains("invalid type"));
        assert!(err("[1,2]").contains("expected a farm event"));
    }
}
