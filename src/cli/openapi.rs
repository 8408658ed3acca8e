//! `shotfarm openapi`: prints the API's OpenAPI document (what `GET /api/v1/openapi.json`
//! serves), so `docs/openapi.json` can be regenerated: `shotfarm openapi > docs/openapi.json`.

use std::io::Write as _;

/// Writes the document to stdout.
pub fn run() -> anyhow::Result<()> {
    std::io::stdout().write_all(shotfarm_web::openapi::document_json().as_bytes())?;
    Ok(())
}
