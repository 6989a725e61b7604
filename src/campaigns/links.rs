//! Tracked links: every http(s) URL in a campaign's body becomes a short link per recipient,
//! `{links.base_url}/l/{token}`, that redirects to the URL and counts the click.
//!
//! The URLs are found with `linkify`, which gets the boundaries right next to punctuation
//! (`see https://shop.example/sale.` ends before the period). The same finder runs when the
//! campaign is saved (to list its links), in the preview (to count the shortened length) and
//! in the sender (to put each recipient's links in), so the three agree on what a link is.
//! Tokens are made in `campaign_step.lua` from the campaign's secret seed: 8 base-62
//! characters (47 bits), so a token cannot be guessed from another.

use linkify::{LinkFinder, LinkKind};

/// Length of a token, as `campaign_step.lua` makes them.
pub const TOKEN_LEN: usize = 8;

fn finder() -> LinkFinder {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(true);
    finder
}

fn is_web(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The distinct http(s) URLs of `text`, in order of first appearance.
pub fn find(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for link in finder().links(text) {
        let url = link.as_str();
        if is_web(url) && !found.iter().any(|f| f == url) {
            found.push(url.to_owned());
        }
    }
    found
}

/// `text` with each http(s) URL replaced by `short(i)`, `i` being its position in
/// [`find`]'s list; a URL `short` has nothing for stays as it is.
pub fn rewrite(text: &str, short: impl Fn(usize) -> Option<String>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for link in finder().links(text) {
        let url = link.as_str();
        if !is_web(url) {
            continue;
        }
        let index = seen.iter().position(|u| *u == url).unwrap_or_else(|| {
            seen.push(url);
            seen.len() - 1
        });
        let Some(replacement) = short(index) else {
            continue;
        };
        out.push_str(&text[last..link.start()]);
        out.push_str(&replacement);
        last = link.end();
    }
    out.push_str(&text[last..]);
    out
}

/// A short link of the length the real ones have, for previews.
pub fn placeholder(base_url: &str) -> String {
    format!(
        "{}/l/{}",
        base_url.trim_end_matches('/'),
        "x".repeat(TOKEN_LEN)
    )
}

/// `{base_url}/l/{token}`.
pub fn short_link(base_url: &str, token: &str) -> String {
    format!("{}/l/{token}", base_url.trim_end_matches('/'))
}

/// Whether `token` could be one of ours (else a 404 without asking Redis).
pub fn is_token(token: &str) -> bool {
    token.len() == TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_without_trailing_punctuation_and_rewritten_in_place() {
        let body = "Sale (https://shop.example/sale) and https://shop.example/sale. Also http://a.example/x?y=1!";
        assert_eq!(
            find(body),
            ["https://shop.example/sale", "http://a.example/x?y=1"]
        );
        let rewritten = rewrite(body, |i| Some(format!("<{i}>")));
        assert_eq!(rewritten, "Sale (<0>) and <0>. Also <1>!");
        assert_eq!(
            find("ftp://files.example and mailto:a@b.example"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_url_that_prefixes_another_is_not_confused_with_it() {
        let body = "https://a.example/x https://a.example/xy";
        assert_eq!(rewrite(body, |i| Some(i.to_string())), "0 1");
    }
}
