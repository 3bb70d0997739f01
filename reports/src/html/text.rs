//! Text for the page: HTML escaping (every string that comes from a record goes through
//! `esc`) and compact number formatting for axes and tables.

/// Escapes `s` for HTML text and for attribute values in double or single quotes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
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

/// A link to `url` when it is an http(s) address, else the escaped text alone: a record's
/// citation is shown, never turned into a `javascript:` link.
pub fn link(url: &str, text: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", esc(url), esc(text))
    } else {
        esc(text)
    }
}

/// A number as short as it can be without losing what `step` resolves: `0.25`, `12`,
/// `1200`.
pub fn num(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    };
    format!("{v:.decimals$}")
}

/// Milliseconds for tables: three significant digits, at least one decimal.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A CSS class naming a verdict: `pass`, `fail`, `deviates`, …
pub fn verdict_class(v: crate::model::Verdict) -> &'static str {
    v.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn only_http_links_become_links() {
        assert_eq!(
            link("https://a.example/?q=<1>", "doc"),
            "<a href=\"https://a.example/?q=&lt;1&gt;\">doc</a>"
        );
        assert_eq!(link("javascript:alert(1)", "doc"), "doc");
    }

    #[test]
    fn numbers_keep_what_the_step_resolves() {
        assert_eq!(num(1200.0, 200.0), "1200");
        assert_eq!(num(0.25, 0.05), "0.25");
        assert_eq!(num(3.0, 0.5), "3.0");
        assert_eq!(ms(0.1234), "0.123");
        assert_eq!(ms(12.34), "12.3");
    }
}
