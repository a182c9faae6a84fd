//! The console's page, script and style, compiled into the binary: no CDN, no network, no build
//! step. The page's Content-Security-Policy lets it load and connect to this origin only, so the
//! browser itself refuses any request that would leave the machine.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::{ApiError, ApiResult};

/// The page.
const PAGE: &str = include_str!("assets/index.html");

/// The files the page loads from `/_sandbox/ui/assets/`: name, media type, content.
pub const FILES: [(&str, &str, &str); 6] = [
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("core.js", "text/javascript; charset=utf-8", include_str!("assets/core.js")),
    ("journal.js", "text/javascript; charset=utf-8", include_str!("assets/journal.js")),
    ("patient.js", "text/javascript; charset=utf-8", include_str!("assets/patient.js")),
    ("transfers.js", "text/javascript; charset=utf-8", include_str!("assets/transfers.js")),
    ("tools.js", "text/javascript; charset=utf-8", include_str!("assets/tools.js")),
];

/// Same origin only: scripts, styles, images (and `data:` ones), fetches, the events stream and
/// the runner's report in a frame.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// `GET /_sandbox/ui`.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

/// `GET /_sandbox/ui/assets/{file}`.
pub async fn asset(path: web::Path<String>) -> ApiResult<HttpResponse> {
    let name = path.into_inner();
    let (_, media, text) = FILES.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "no-asset", format!("file: no asset {name:?}"))
            .field("file")
    })?;
    Ok(HttpResponse::Ok()
        .content_type(*media)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(*text))
}
