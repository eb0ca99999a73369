//! What an upload is, and why one is refused. Kinds are recognised from the
//! content, never from the Content-Type: Spark Job Server clients send
//! `application/java-archive` whatever the bytes are.

use super::bindings::{Entry, SUPPORTED_WORLDS};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

const WASM_MAGIC: &[u8] = b"\0asm";
/// Version and layer fields after the magic: a core module, or a component.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_LAYER: [u8; 2] = [1, 0];
const ELF_MAGIC: &[u8] = b"\x7fELF";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A WebAssembly component implementing the job world.
    Wasm,
}

impl ArtifactKind {
    /// The `binary-type` shown by `GET /binaries`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Wasm => "wasm",
        }
    }
}

/// Why an upload was refused; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the upload is empty: send the component as the request body, e.g. curl --data-binary @job.wasm")]
    Empty,
    #[error(
        "this is a JAR or zip archive; jobserver runs WebAssembly components (build a job with \
         `cargo build --release --target wasm32-wasip2`, see the README)"
    )]
    Archive,
    #[error(
        "this is a native shared library (ELF); native plugins are not enabled on this server, \
         upload a WebAssembly component instead"
    )]
    Native,
    #[error(
        "this is a multipart form (as `curl -F` sends); send the component itself as the request \
         body instead: curl --data-binary @job.wasm ..."
    )]
    Multipart,
    #[error("this is not WebAssembly: it does not start with the WebAssembly magic bytes \\0asm")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build for --target wasm32-wasip2, \
         or wrap the module with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("this WebAssembly binary is truncated or corrupt: {0}")]
    Truncated(String),
    #[error("this WebAssembly binary is malformed: {0}")]
    Malformed(String),
    #[error("this component needs imports that jobserver does not provide: {0}")]
    UnsupportedImport(String),
    #[error("this component does not implement the job world ({SUPPORTED_WORLDS}): {0}")]
    NotAJob(String),
    #[error("calling the component's entries() failed: {0}")]
    EntriesFailed(String),
    #[error("the component exports no entries; a job component must offer at least one")]
    NoEntries,
    #[error("the component has two entries named '{0}'; entry names must be unique")]
    DuplicateEntry(String),
    #[error("the component has an entry with an unusable name '{0}': names are 1 to 200 characters, without spaces")]
    BadEntryName(String),
    #[error("internal error while checking the upload: {0}")]
    Internal(String),
}

impl ArtifactError {
    /// False for the one variant that is the server's fault, not the upload's.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, ArtifactError::Internal(_))
    }
}

/// A multipart/form-data body: a `--boundary` line, then a part's headers.
fn is_multipart(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.starts_with(b"--")
        && head
            .windows(b"content-disposition: form-data".len())
            .any(|window| window.eq_ignore_ascii_case(b"content-disposition: form-data"))
}

/// Recognises what the bytes are, before any expensive work.
pub fn classify(bytes: &[u8]) -> Result<ArtifactKind, ArtifactError> {
    if bytes.is_empty() {
        return Err(ArtifactError::Empty);
    }
    if bytes.starts_with(ZIP_MAGIC) {
        return Err(ArtifactError::Archive);
    }
    if bytes.starts_with(ELF_MAGIC) {
        return Err(ArtifactError::Native);
    }
    if !bytes.starts_with(WASM_MAGIC) {
        if is_multipart(bytes) {
            return Err(ArtifactError::Multipart);
        }
        return Err(ArtifactError::NotWasm);
    }
    if bytes.len() < 8 {
        return Err(ArtifactError::Truncated(format!(
            "{} bytes, too short even for the header",
            bytes.len()
        )));
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(ArtifactError::CoreModule);
    }
    if bytes[6..8] != COMPONENT_LAYER {
        return Err(ArtifactError::Malformed(format!(
            "unknown WebAssembly version/layer {:02x?}",
            &bytes[4..8]
        )));
    }
    check_sections_complete(bytes)?;
    Ok(ArtifactKind::Wasm)
}

/// Walks the outermost sections (an id byte, a LEB128 size, the contents):
/// cut-off bytes show as a section that runs past the end. Checked here
/// because the compiler reports it in terms of whichever inner part it was
/// reading, which says nothing useful to someone whose upload was cut short.
fn check_sections_complete(bytes: &[u8]) -> Result<(), ArtifactError> {
    let mut offset = 8;
    while offset < bytes.len() {
        let section_start = offset;
        offset += 1;
        let (size, leb_len) = read_leb128_u32(&bytes[offset..]).ok_or_else(|| {
            ArtifactError::Truncated(format!("the section at byte {section_start} has no complete size"))
        })?;
        offset += leb_len;
        let end = offset + size as usize;
        if end > bytes.len() {
            return Err(ArtifactError::Truncated(format!(
                "the section at byte {section_start} needs {size} bytes but only {} follow ({} bytes in all)",
                bytes.len() - offset,
                bytes.len()
            )));
        }
        offset = end;
    }
    Ok(())
}

/// An unsigned LEB128 number and how many bytes it took; `None` when the
/// bytes end first or the number does not fit.
fn read_leb128_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (index, byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f).checked_shl(7 * index as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compilation validates the binary; wasmparser's messages say "unexpected
/// end" when bytes are missing.
pub fn compile_error(error: wasmtime::Error) -> ArtifactError {
    let message = format!("{error:#}");
    if message.contains("unexpected end") {
        ArtifactError::Truncated(message)
    } else {
        ArtifactError::Malformed(message)
    }
}

pub fn link_error(error: wasmtime::Error) -> ArtifactError {
    ArtifactError::UnsupportedImport(format!("{error:#}"))
}

pub fn world_error(error: wasmtime::Error) -> ArtifactError {
    ArtifactError::NotAJob(format!("{error:#}"))
}

pub fn check_entries(entries: &[Entry]) -> Result<(), ArtifactError> {
    if entries.is_empty() {
        return Err(ArtifactError::NoEntries);
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let name = &entry.name;
        if name.is_empty() || name.len() > 200 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ArtifactError::BadEntryName(name.clone()));
        }
        if !seen.insert(name.as_str()) {
            return Err(ArtifactError::DuplicateEntry(name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_recognised_from_content() {
        assert!(matches!(classify(b""), Err(ArtifactError::Empty)));
        assert!(matches!(classify(b"PK\x03\x04rest"), Err(ArtifactError::Archive)));
        assert!(matches!(classify(b"\x7fELF\x02\x01"), Err(ArtifactError::Native)));
        assert!(matches!(classify(b"hello world"), Err(ArtifactError::NotWasm)));
        let form = b"--------------------------abc\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\0asm";
        assert!(matches!(classify(form), Err(ArtifactError::Multipart)));
        assert!(matches!(classify(b"\0asm\x01\0\0\0"), Err(ArtifactError::CoreModule)));
        assert!(matches!(classify(b"\0asm\x0d"), Err(ArtifactError::Truncated(_))));
        assert!(matches!(classify(b"\0asm\x0d\0\x01\0"), Ok(ArtifactKind::Wasm)));
        // A custom section (id 0) of 3 bytes, whole and then cut short.
        assert!(matches!(
            classify(b"\0asm\x0d\0\x01\0\0\x03abc"),
            Ok(ArtifactKind::Wasm)
        ));
        assert!(matches!(
            classify(b"\0asm\x0d\0\x01\0\0\x03ab"),
            Err(ArtifactError::Truncated(_))
        ));
        assert!(matches!(
            classify(b"\0asm\x0d\0\x01\0\0\x83"),
            Err(ArtifactError::Truncated(_))
        ));
    }

    #[test]
    fn entries_must_be_present_unique_and_named() {
        let entry = |name: &str| Entry {
            name: name.into(),
            description: String::new(),
        };
        assert!(matches!(check_entries(&[]), Err(ArtifactError::NoEntries)));
        assert!(matches!(
            check_entries(&[entry("a"), entry("a")]),
            Err(ArtifactError::DuplicateEntry(_))
        ));
        assert!(matches!(
            check_entries(&[entry("a b")]),
            Err(ArtifactError::BadEntryName(_))
        ));
        assert!(check_entries(&[entry("a"), entry("b")]).is_ok());
    }
}
