//! The dashboard at `/` of every meta server: one page of plain HTML, CSS
//! and JavaScript compiled into the binary (no Node toolchain). It reads
//! the JSON API and updates live from `/api/v1/events/stream`: an event
//! refreshes the tables at once, and a slow refresh keeps ages and lag
//! current. With `--auth on` it asks for a token once and keeps it in the
//! tab's session storage. Every value from the cluster is set as text,
//! never as markup.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("dashboard.html");

/// `GET /`.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        PAGE,
    )
        .into_response()
}
