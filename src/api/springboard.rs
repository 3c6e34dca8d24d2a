//! The "springboard" page of the Go switchboard's `API.AggregatorPort`: one
//! HTML page linking every `API.ProxyURIs` entry (each proxy's dashboard).
//!
//! Owns that page only. Entries without a scheme get `https://`, as the Go
//! page links them; every entry is HTML-escaped. It never shows credentials
//! and never calls the other proxies.

use axum::extract::State;
use axum::response::Html;

use super::App;

/// `GET /` on the aggregator listener.
pub(crate) async fn page(State(app): State<App>) -> Html<String> {
    Html(render(&app.ctx.config.get().api.proxy_uris))
}

/// The page for a list of proxy URIs.
pub(crate) fn render(uris: &[String]) -> String {
    let mut items = String::new();
    for (i, uri) in uris.iter().enumerate() {
        let href = if uri.contains("://") {
            uri.clone()
        } else {
            format!("https://{uri}")
        };
        items.push_str(&format!(
            "<li><a href=\"{}\">Proxy {i}: {}</a></li>\n",
            escape(&href),
            escape(uri)
        ));
    }
    if uris.is_empty() {
        items.push_str("<li>No proxies configured (API.ProxyURIs is empty).</li>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>switchboard proxies</title>\n\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem}}li{{margin:.5rem 0}}</style>\n\
         </head>\n<body>\n<h1>switchboard proxies</h1>\n<ul>\n{items}</ul>\n</body>\n</html>\n"
    )
}

/// Minimal HTML escaping for text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_every_uri_escaped() {
        let page = render(&["p0.example.com".into(), "http://p1/<x>".into()]);
        assert!(page.contains("<a href=\"https://p0.example.com\">Proxy 0: p0.example.com</a>"));
        assert!(page.contains("href=\"http://p1/&lt;x&gt;\""));
    }
}
