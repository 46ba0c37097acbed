//! `SbomFormat`: the document formats `ferrostack sbom` writes.

/// SPDX 2.3 JSON or CycloneDX 1.5 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SbomFormat {
    #[default]
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    /// The file name ending: `spdx.json` or `cdx.json`.
    pub fn extension(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx.json",
            SbomFormat::CycloneDx => "cdx.json",
        }
    }
}
