//! Byte ranges of an object, as HTTP's `Range: bytes=...` asks for them (one range; a browser
//! seeking in a video asks for one).

use super::ArtifactError;

/// Which bytes of an object to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// From this offset to the end (`bytes=100-`).
    From(u64),
    /// From `first` to `last`, both included (`bytes=0-499`).
    Within { first: u64, last: u64 },
    /// The last this many bytes (`bytes=-500`).
    Last(u64),
}

impl ByteRange {
    /// The range of a `Range` header; `None` for anything but one well-formed byte range (the
    /// server then sends the whole object, as RFC 9110 allows).
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        match (first.is_empty(), last.is_empty()) {
            (false, true) => Some(Self::From(first.parse().ok()?)),
            (false, false) => {
                let (first, last) = (first.parse().ok()?, last.parse().ok()?);
                (first <= last).then_some(Self::Within { first, last })
            }
            (true, false) => Some(Self::Last(last.parse().ok()?)),
            (true, true) => None,
        }
    }

    /// The bytes this range covers of an object of `size` bytes (end exclusive), or `BadRange`
    /// when it starts past the end.
    pub fn resolve(self, size: u64) -> Result<std::ops::Range<u64>, ArtifactError> {
        let bad = ArtifactError::BadRange { size };
        match self {
            Self::From(first) if first < size => Ok(first..size),
            Self::Within { first, last } if first < size => Ok(first..(last + 1).min(size)),
            Self::Last(n) if n > 0 && size > 0 => Ok(size.saturating_sub(n)..size),
            _ => Err(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve_as_http_says() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange::Within { first: 0, last: 99 })
        );
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(ByteRange::parse("bytes=-5"), Some(ByteRange::Last(5)));
        for ignored in [
            "bytes=",
            "bytes=-",
            "bytes=5-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
        assert_eq!(
            ByteRange::Within { first: 0, last: 99 }.resolve(10),
            Ok(0..10)
        );
        assert_eq!(ByteRange::From(9).resolve(10), Ok(9..10));
        assert_eq!(ByteRange::Last(3).resolve(10), Ok(7..10));
        assert_eq!(ByteRange::Last(30).resolve(10), Ok(0..10));
        assert_eq!(
            ByteRange::From(10).resolve(10),
            Err(ArtifactError::BadRange { size: 10 })
        );
        assert_eq!(
            ByteRange::Last(0).resolve(10),
            Err(ArtifactError::BadRange { size: 10 })
        );
    }
}
