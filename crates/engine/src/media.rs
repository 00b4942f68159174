//! What kind of file a result is — video, image, audio or text, and its format — told from
//! its first bytes, so that it gets the right extension and shows in the gallery as what it
//! is.
//!
//! Read [`Media::of`]. Kie's models return mp4, mov, webm, png, jpg, webp, gif, mp3, wav or
//! m4a files (`kie-api-notes.md`), and a result URL's path does not always say which: the
//! bytes (magic numbers, through the `infer` crate) do. The URL's extension is only a
//! fallback for bytes nothing recognises. Text models return no file but a JSON value
//! (`resultObject`), saved as `<id>.json` ([`Media::TEXT`]). A leaf: nothing else of the
//! engine is used here.

/// Video, image, audio or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Video,
    Image,
    Audio,
    /// A text model's result, saved as JSON.
    Text,
}

/// A result file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    /// The extension the file is saved with, without the dot.
    pub extension: &'static str,
    /// Its media type, as a report records it.
    pub mime: &'static str,
    pub kind: MediaKind,
}

/// The formats a result may have, by extension.
const KNOWN: &[Media] = &[
    media("mp4", "video/mp4", MediaKind::Video),
    media("mov", "video/quicktime", MediaKind::Video),
    media("webm", "video/webm", MediaKind::Video),
    media("png", "image/png", MediaKind::Image),
    media("jpg", "image/jpeg", MediaKind::Image),
    media("webp", "image/webp", MediaKind::Image),
    media("gif", "image/gif", MediaKind::Image),
    media("mp3", "audio/mpeg", MediaKind::Audio),
    media("wav", "audio/wav", MediaKind::Audio),
    media("m4a", "audio/mp4", MediaKind::Audio),
    Media::TEXT,
];

const fn media(extension: &'static str, mime: &'static str, kind: MediaKind) -> Media {
    Media {
        extension,
        mime,
        kind,
    }
}

/// How many first bytes [`Media::of`] needs.
pub const HEAD_BYTES: usize = 64;

impl Media {
    /// A text result (`resultObject`), saved as pretty-printed JSON.
    pub const TEXT: Media = media("json", "application/json", MediaKind::Text);

    /// The format of a file whose first bytes are `head` and whose URL is `url`: from the
    /// bytes when they are of a known format, else from the URL's extension, else an mp4
    /// video (what the jobs API's video models return).
    pub fn of(head: &[u8], url: &str) -> Media {
        Media::from_bytes(head)
            .or_else(|| Media::from_url(url))
            .unwrap_or(KNOWN[0])
    }

    /// The format the bytes show, if it is one a result may have.
    pub fn from_bytes(head: &[u8]) -> Option<Media> {
        let kind = infer::get(head)?;
        let extension = match kind.extension() {
            "jpeg" => "jpg",
            "m4v" => "mp4",
            "qt" => "mov",
            other => other,
        };
        Media::from_extension(extension)
    }

    /// The format a URL's path names by its extension.
    pub fn from_url(url: &str) -> Option<Media> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, extension) = name.rsplit_once('.')?;
        let extension = extension.to_ascii_lowercase();
        Media::from_extension(if extension == "jpeg" {
            "jpg"
        } else {
            &extension
        })
    }

    pub fn from_extension(extension: &str) -> Option<Media> {
        KNOWN
            .iter()
            .find(|known| known.extension == extension)
            .copied()
    }

    /// The format with the media type `mime` (as the journal and reports record it).
    pub fn from_mime(mime: &str) -> Option<Media> {
        KNOWN.iter().find(|known| known.mime == mime).copied()
    }

    /// The format of a file saved under `name` (by its extension).
    pub fn of_file_name(name: &str) -> Option<Media> {
        Media::from_url(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_bytes_before_the_url() {
        let mp4 = [
            0, 0, 0, 24, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0,
        ];
        assert_eq!(Media::of(&mp4, "https://x/a.png").extension, "mp4");
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0];
        assert_eq!(Media::of(&png, "https://x/a.mp4").extension, "png");
        assert_eq!(Media::of(&png, "").kind, MediaKind::Image);
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'];
        assert_eq!(Media::of(&jpeg, "").extension, "jpg");
        let mp3 = [b'I', b'D', b'3', 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(Media::of(&mp3, "").kind, MediaKind::Audio);
    }

    #[test]
    fn the_real_files_of_the_fixtures_are_told_apart_by_their_bytes() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media");
        for (file, extension, kind) in [
            ("clip.mp4", "mp4", MediaKind::Video),
            ("still.png", "png", MediaKind::Image),
            ("still.jpg", "jpg", MediaKind::Image),
            ("still.webp", "webp", MediaKind::Image),
            ("still.gif", "gif", MediaKind::Image),
            ("tone.mp3", "mp3", MediaKind::Audio),
            ("tone.wav", "wav", MediaKind::Audio),
            ("tone.m4a", "m4a", MediaKind::Audio),
        ] {
            let bytes = std::fs::read(folder.join(file)).expect("a fixture");
            // The URL says mp4 whatever the file is, as result URLs often do.
            let media = Media::of(&bytes[..HEAD_BYTES.min(bytes.len())], "https://x/r/0.mp4");
            assert_eq!((media.extension, media.kind), (extension, kind), "{file}");
        }
        assert_eq!(Media::from_extension("json"), Some(Media::TEXT));
        assert_eq!(
            Media::from_mime("application/json").map(|m| m.kind),
            Some(MediaKind::Text)
        );
    }

    #[test]
    fn unknown_bytes_fall_back_to_the_url_then_to_mp4() {
        assert_eq!(
            Media::of(b"????", "https://x/y/clip.WEBM?sig=1").extension,
            "webm"
        );
        assert_eq!(
            Media::of(b"????", "https://x/y/photo.jpeg").extension,
            "jpg"
        );
        assert_eq!(Media::of(b"????", "https://x/y/blob").extension, "mp4");
        assert_eq!(Media::of(b"", "https://x/y/file.exe").extension, "mp4");
    }
}
