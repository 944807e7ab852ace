//! Status pages as HTML, server-rendered with maud: every value from the
//! registry or an agent is escaped by the template, there is no script,
//! and progress bars are `<meter>` elements (green at or near the target,
//! amber, red), so the Content-Security-Policy can forbid everything but
//! our own stylesheet.

use super::auth::Who;
use super::i18n::{Lang, Strings, local_time};
use super::table::{Cell, Page, Table};
use maud::{DOCTYPE, Markup, html};

/// The stylesheet, served at `/status/style.css`.
pub const CSS: &str = "\
body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:0;color:#1b1b1b;background:#fafbfc}\
header{background:#12467a;color:#fff;padding:.6rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}\
header a{color:#fff}header .who{margin-left:auto}header form{display:inline}\
header button{background:none;border:1px solid #fff;color:#fff;border-radius:.3rem;padding:.15rem .6rem;cursor:pointer}\
main{padding:.6rem 1.2rem 2rem}h1{font-size:1.45rem;margin:.6rem 0 .2rem}\
h2{font-size:1.1rem;margin:1.6rem 0 .3rem;display:flex;gap:1rem;align-items:baseline}\
h2 a{font-size:.8rem;font-weight:normal}.crumbs a{margin-right:.4rem}.crumbs a:after{content:' ›';color:#777}\
.note,.asof{color:#555;font-size:.85rem;margin:.1rem 0 .4rem}\
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff;font-size:.9rem}\
th,td{padding:.3rem .55rem;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:middle;white-space:nowrap}\
th{background:#eef2f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td[data-col=goal],td[data-col=target]{white-space:normal;min-width:12rem;max-width:30rem}\
tr.offline td{background:#fff4f4}tr.total td{font-weight:600;border-top:2px solid #999}\
meter{width:6.5rem;height:.9rem;vertical-align:middle;margin-right:.35rem}\
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.3rem;background:#eceff3}\
.badge.ok{background:#dcf3e3;color:#0a5a26}.badge.bad{background:#fbe0e3;color:#9b0019;font-weight:600}\
.muted{color:#777}.empty{color:#999;font-style:italic}\
form.login{background:#fff;max-width:22rem;padding:1rem 1.2rem;border:1px solid #dde2e8;border-radius:.4rem}\
form.login label{display:block;margin:.6rem 0 .2rem}form.login input{width:100%;box-sizing:border-box;padding:.35rem}\
form.login button{margin-top:1rem;padding:.4rem 1.2rem}.error{color:#9b0019;font-weight:600}";

/// What every page's frame needs.
pub struct Frame<'a> {
    /// The page's language.
    pub lang: Lang,
    /// Set when the language came from `?lang=`: links carry it on.
    pub lang_param: Option<Lang>,
    /// The page's words.
    pub t: &'static Strings,
    /// Who is logged in (none on the login page).
    pub who: Option<&'a Who>,
    /// The page's path, for its CSV links and the language switch.
    pub path: &'a str,
    /// The moment the figures are from, ms.
    pub as_of_ms: i64,
    /// The calendar's UTC offset, for local times.
    pub utc_offset_minutes: i32,
}

impl Frame<'_> {
    fn with_lang(&self, path: &str) -> String {
        match self.lang_param {
            Some(l) => format!("{path}?lang={}", l.code()),
            None => path.to_owned(),
        }
    }

    fn csv_href(&self, table: &str) -> String {
        let mut href = format!("{}?format=csv&table={table}", self.path);
        if let Some(l) = self.lang_param {
            href.push_str("&lang=");
            href.push_str(l.code());
        }
        href
    }
}

/// A whole page.
pub fn page(f: &Frame, p: &Page) -> Markup {
    layout(
        f,
        &p.title,
        html! {
            @if !p.crumbs.is_empty() {
                nav.crumbs { @for (text, href) in &p.crumbs { a href=(href) { (text) } } }
            }
            h1 { (p.title) }
            p.asof { (f.t.as_of) " " (local_time(f.as_of_ms, f.utc_offset_minutes)) }
            @for t in &p.tables { (table(f, t)) }
        },
    )
}

/// The login form; `failed` after a wrong name or password.
pub fn login(f: &Frame, next: &str, failed: bool) -> Markup {
    let t = f.t;
    layout(
        f,
        t.login_title,
        html! {
            h1 { (t.login_title) }
            @if failed { p.error #login-error { (t.login_failed) } }
            form.login method="post" action="/status/login" {
                input type="hidden" name="next" value=(next);
                input type="hidden" name="lang" value=(f.lang.code());
                label for="name" { (t.user_name) }
                input #name type="text" name="name" autocomplete="username" required autofocus;
                label for="password" { (t.password) }
                input #password type="password" name="password" autocomplete="current-password" required;
                button #login type="submit" { (t.login_title) }
            }
        },
    )
}

/// A short page with a title and one line (404, 400).
pub fn message(f: &Frame, title: &str, text: &str) -> Markup {
    layout(
        f,
        title,
        html! {
            h1 #message { (title) }
            p { (text) }
        },
    )
}

fn layout(f: &Frame, title: &str, body: Markup) -> Markup {
    let t = f.t;
    html! {
        (DOCTYPE)
        html lang=(f.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — schoolwatch" }
                link rel="stylesheet" href="/status/style.css";
            }
            body {
                header {
                    strong { "schoolwatch" }
                    @if let Some(who) = f.who {
                        @match &who.district {
                            None => a href=(f.with_lang("/status")) { (t.nav_overview) },
                            Some(d) => a href=(f.with_lang(&format!("/status/district/{}", super::table::encode_segment(d)))) { (d) },
                        }
                        a href=(f.with_lang("/status/schools")) { (t.nav_schools) }
                    }
                    a #lang href={ (f.path) "?lang=" (f.lang.other().code()) } { (f.lang.other().name()) }
                    @if let Some(who) = f.who {
                        span.who {
                            (t.signed_in_as) " " strong #who { (who.name) }
                            " (" (who.district.as_deref().unwrap_or(t.whole_province)) ") "
                            form method="post" action="/status/logout" {
                                button #logout type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn table(f: &Frame, t: &Table) -> Markup {
    html! {
        section #(t.id) {
            h2 {
                (t.title)
                a.csv href=(f.csv_href(t.id)) download { (f.t.download_csv) }
            }
            @if let Some(note) = &t.note { p.note { (note) } }
            @if t.rows.is_empty() {
                p.empty { "—" }
            } @else {
                div.scroll {
                    table #{ "table-" (t.id) } {
                        thead { tr { @for c in &t.columns { th data-col=(c.key) { (c.header) } } } }
                        tbody {
                            @for r in &t.rows {
                                tr class=[r.class] data-key=(r.key) {
                                    @for (c, cell) in t.columns.iter().zip(&r.cells) {
                                        @match cell {
                                            Cell::Frac { num, den } => {
                                                td.n data-col=(c.key) data-num=(num) data-den=(den) { (render(f, cell)) }
                                            }
                                            _ => {
                                                td.n[numeric(cell)] data-col=(c.key) data-value=(super::csv::value(cell)) { (render(f, cell)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn numeric(cell: &Cell) -> bool {
    matches!(
        cell,
        Cell::Int(_)
            | Cell::Share(_)
            | Cell::Ratio(_)
            | Cell::Bytes(_)
            | Cell::Rate(_)
            | Cell::Rtt(_)
            | Cell::Span(_)
    )
}

/// A progress bar for a share of a target.
fn meter(share: f64) -> Markup {
    html! {
        meter min="0" max="1" low="0.5" high="0.9" optimum="1" value=(share.clamp(0.0, 1.0)) {}
    }
}

/// A cell for people.
fn render(f: &Frame, cell: &Cell) -> Markup {
    let l = f.lang;
    html! {
        @match cell {
            Cell::Empty => span.muted { "—" },
            Cell::Text(s) => (s),
            Cell::Link { text, href } => a href=(href) { (text) },
            Cell::Int(n) => (l.integer(*n)),
            Cell::Frac { num, den } => {
                @if *den > 0 {
                    @let share = *num as f64 / *den as f64;
                    (meter(share))
                    (l.integer(*num)) " / " (l.integer(*den))
                    span.muted { " (" (l.percent(share)) ")" }
                } @else {
                    (l.integer(*num)) " / " (l.integer(*den))
                }
            },
            Cell::Share(Some(v)) => { (meter(*v)) (l.percent(*v)) },
            Cell::Ratio(Some(v)) => (l.percent(*v)),
            Cell::Share(None) | Cell::Ratio(None) | Cell::Rtt(None) | Cell::Time(None) => span.muted { "—" },
            Cell::Bytes(b) => (l.bytes(*b)),
            Cell::Rate(bps) => (l.bits_per_second(*bps)),
            Cell::Rtt(Some(s)) => { (l.number(s * 1000.0, 1)) " ms" },
            Cell::Time(Some(ms)) => (local_time(*ms, f.utc_offset_minutes)),
            Cell::Span(ms) => (l.duration(u64::try_from(*ms / 1000).unwrap_or(0))),
            Cell::Badge { ok, text, .. } => {
                @if text.is_empty() {
                    ""
                } @else {
                    @match ok {
                        Some(true) => span.badge.ok { (text) },
                        Some(false) => span.badge.bad { (text) },
                        None => span.badge { (text) },
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::i18n::strings;
    use super::super::table::{Column, Row};
    use super::*;

    fn frame(lang: Lang) -> Frame<'static> {
        Frame {
            lang,
            lang_param: None,
            t: strings(lang),
            who: None,
            path: "/status",
            as_of_ms: 0,
            utc_offset_minutes: 7 * 60,
        }
    }

    #[test]
    fn untrusted_text_is_escaped_everywhere() {
        let evil = "<img src=x onerror=alert(1)>\"'&";
        let p = Page {
            title: evil.into(),
            crumbs: vec![(evil.into(), "/status".into())],
            tables: vec![Table {
                id: "t",
                title: evil.into(),
                note: Some(evil.into()),
                columns: vec![Column::new("a", "A"), Column::new("b", "B")],
                rows: vec![Row {
                    key: evil.into(),
                    class: None,
                    cells: vec![
                        Cell::Text(evil.into()),
                        Cell::Badge {
                            ok: Some(false),
                            text: evil.into(),
                            csv: evil.into(),
                        },
                    ],
                }],
            }],
        };
        let out = page(&frame(Lang::En), &p).into_string();
        assert!(!out.contains("<img"), "{out}");
        assert!(
            out.contains("&lt;img src=x onerror=alert(1)&gt;&quot;'&amp;"),
            "{out}"
        );
    }

    #[test]
    fn fractions_and_shares_get_bars_and_values() {
        let p = Page {
            title: "x".into(),
            crumbs: Vec::new(),
            tables: vec![Table {
                id: "t",
                title: "T".into(),
                note: None,
                columns: vec![Column::frac("lab", "Lab"), Column::new("a", "A")],
                rows: vec![Row {
                    key: "k".into(),
                    class: None,
                    cells: vec![Cell::Frac { num: 2, den: 8 }, Cell::Share(Some(0.875))],
                }],
            }],
        };
        let out = page(&frame(Lang::Vi), &p).into_string();
        assert!(out.contains("data-num=\"2\" data-den=\"8\""), "{out}");
        assert!(out.contains("<meter"), "{out}");
        assert!(out.contains("25,0 %"), "{out}");
        assert!(out.contains("data-value=\"0.875\""), "{out}");
        assert!(out.contains("87,5 %"), "{out}");
        assert!(
            out.contains("href=\"/status?format=csv&amp;table=t\""),
            "{out}"
        );
    }
}
