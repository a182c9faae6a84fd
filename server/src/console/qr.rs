//! QR codes for the facility counters, drawn on the server as SVG so the page needs no QR
//! library. The page asks for the payload a HIP prints at its counter: v0.5's JSON
//! `{"hipId":"…","code":"…"}`, or v3's share-profile URL
//! `https://phrsbx.abdm.gov.in/share-profile?hip-id=…&counter-id=…` (only drawn, never fetched).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// A counter's payload is short; this bounds the work one request can ask for.
const MAX_TEXT: usize = 512;

/// `?text=` of the QR code.
#[derive(Deserialize)]
pub struct QrQuery {
    text: Option<String>,
}

/// `GET /_sandbox/ui/qr.svg?text=…`: the QR code (error correction M, with its quiet zone).
pub async fn svg(q: web::Query<QrQuery>) -> ApiResult<HttpResponse> {
    let text = q.text.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::bad("text", "required", "query parameter is required: the QR code's content")
    })?;
    if text.len() > MAX_TEXT {
        return Err(ApiError::bad("text", "length", format!("at most {MAX_TEXT} bytes")));
    }
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(render(text)?))
}

/// The SVG of a QR code holding `text`.
pub fn render(text: &str) -> ApiResult<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::bad("text", "qr", format!("cannot be drawn as a QR code: {e}")))?;
    Ok(code
        .render()
        .min_dimensions(232, 232)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}
