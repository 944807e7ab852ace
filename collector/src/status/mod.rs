//! The status page for department and district staff: server-rendered
//! HTML (no script, no build chain) in Vietnamese or English, on the
//! collector's own HTTPS listener, read-only.
//!
//! Pages (each table also as CSV with `?format=csv&table=ID`):
//! - `/status`: the province against every target, its districts, schools
//!   offline now (outage kind, since when), the worst schools;
//! - `/status/schools`: every school, worst first;
//! - `/status/district/{name}`, `/status/school/{id}`, `/status/host/{id}`:
//!   the drill-down.
//!
//! Everything is read from the same [`crate::fleet::Fleet`] picture that
//! `/metrics` and `coverage` read, so the numbers agree. Staff log in
//! (`/status/login`; see [`auth`] for why a form and a cookie); an account
//! limited to a district sees only that district, and any page of another
//! one is the same 404 as a page that does not exist. With no `[status]`
//! users configured none of these routes exist: nothing is exposed by
//! default.
//!
//! # Layout
//! - [`auth`]: accounts, password hashes, sessions.
//! - `pages`: the tables of each page, from the fleet picture (pure).
//! - `table`: the page model; `html` and `csv` render it.
//! - [`i18n`]: the words, one table per language.

pub mod auth;
mod csv;
mod html;
pub mod i18n;
mod pages;
mod table;

pub use auth::{RawStatus, StatusConfig, hash_password_cli};

use crate::api::AppState;
use crate::fleet::{Fleet, now_ms};
use auth::Auth;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use i18n::{Lang, strings};
use std::sync::Arc;

/// Largest login form accepted, bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What the status handlers share.
struct Status {
    /// The collector's state: store, targets, fleet cache.
    app: Arc<AppState>,
    /// Accounts and sessions.
    auth: Auth,
}

/// The status routes; an empty router (everything 404) when no users are
/// configured.
pub fn router(app: Arc<AppState>, config: &StatusConfig) -> Router {
    if !config.is_on() {
        return Router::new();
    }
    let st = Arc::new(Status {
        app,
        auth: Auth::new(config),
    });
    Router::new()
        .route("/status", get(overview))
        .route("/status/schools", get(schools))
        .route("/status/district/{name}", get(district))
        .route("/status/school/{id}", get(school))
        .route("/status/host/{id}", get(host))
        .route("/status/login", get(login_form).post(login))
        .route("/status/logout", post(logout))
        .route("/status/style.css", get(css))
        .with_state(st)
}

/// Which page.
enum Which {
    Overview,
    Schools,
    District(String),
    School(String),
    Host(String),
}

impl Which {
    /// A file-name-safe name for the page's CSV files.
    fn slug(&self) -> String {
        let (kind, name) = match self {
            Which::Overview => ("province", ""),
            Which::Schools => ("schools", ""),
            Which::District(d) => ("district", d.as_str()),
            Which::School(s) => ("school", s.as_str()),
            Which::Host(h) => ("host", h.as_str()),
        };
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if safe.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}-{safe}")
        }
    }
}

/// The query every page understands.
#[derive(Default, serde::Deserialize)]
struct Query {
    lang: Option<String>,
    format: Option<String>,
    table: Option<String>,
    next: Option<String>,
}

async fn overview(
    State(st): State<Arc<Status>>,
    h: HeaderMap,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    show(st, h, uri, q, Which::Overview).await
}

async fn schools(
    State(st): State<Arc<Status>>,
    h: HeaderMap,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    show(st, h, uri, q, Which::Schools).await
}

async fn district(
    State(st): State<Arc<Status>>,
    Path(name): Path<String>,
    h: HeaderMap,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    show(st, h, uri, q, Which::District(name)).await
}

async fn school(
    State(st): State<Arc<Status>>,
    Path(id): Path<String>,
    h: HeaderMap,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    show(st, h, uri, q, Which::School(id)).await
}

async fn host(
    State(st): State<Arc<Status>>,
    Path(id): Path<String>,
    h: HeaderMap,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    show(st, h, uri, q, Which::Host(id)).await
}

/// The language of a request: `?lang=`, else `Accept-Language`, else
/// Vietnamese; and whether `?lang=` chose it.
fn language(q: &Query, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    (
        Lang::negotiate(q.lang.as_deref(), accept),
        q.lang.as_deref().and_then(Lang::parse),
    )
}

fn parse_query(query: Option<&str>) -> Result<Query, String> {
    match query {
        None => Ok(Query::default()),
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| {
            format!("bad query {q:?}: {e}; allowed: lang=vi|en, format=html|csv, table=ID")
        }),
    }
}

/// Shows a page for the logged-in staff member, as HTML or one table as
/// CSV.
async fn show(
    st: Arc<Status>,
    headers: HeaderMap,
    uri: Uri,
    query: Option<String>,
    which: Which,
) -> Response {
    let q = match parse_query(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e),
    };
    let (lang, lang_param) = language(&q, &headers);
    let Some(who) = st.auth.who(&headers) else {
        return to_login(&uri, lang_param);
    };
    let csv = match q.format.as_deref() {
        None | Some("html") => false,
        Some("csv") => true,
        Some(other) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("unknown format {other:?}; allowed: html, csv"),
            );
        }
    };
    // District staff start at their district.
    if let (Which::Overview, Some(d)) = (&which, &who.district) {
        let mut to = format!("/status/district/{}", table::encode_segment(d));
        if let Some(q) = uri.query() {
            to.push('?');
            to.push_str(q);
        }
        return see_other(&to);
    }
    let app = st.app.clone();
    let store = app.store.clone();
    let targets = app.targets.clone();
    let window = app.online_window;
    let fleet = match app
        .fleet
        .get(move || Fleet::load(&store, &targets, window, now_ms()))
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "Status page: the fleet picture could not be built.");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; try again".into(),
            );
        }
    };
    // Building and rendering a province's tables is pure CPU: off the
    // async threads.
    let path = uri.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let window_ms = i64::try_from(app.online_window.as_millis()).unwrap_or(i64::MAX);
        let view = pages::View::new(&fleet, &app.targets, window_ms, lang, lang_param, &who);
        let frame = html::Frame {
            lang,
            lang_param,
            t: strings(lang),
            who: Some(&who),
            path: &path,
            as_of_ms: fleet.now_ms,
            utc_offset_minutes: app.targets.calendar.utc_offset_minutes,
        };
        let page = match &which {
            Which::Overview => pages::overview(&view),
            Which::Schools => Ok(pages::schools(&view)),
            Which::District(d) => pages::district(&view, d),
            Which::School(s) => pages::school(&view, s),
            Which::Host(h) => pages::host(&view, h),
        };
        let Ok(page) = page else {
            let t = frame.t;
            return guarded(
                (
                    StatusCode::NOT_FOUND,
                    Html(html::message(&frame, t.not_found_title, t.not_found_text).into_string()),
                )
                    .into_response(),
            );
        };
        if csv {
            csv_response(&page, q.table.as_deref(), &which, frame.t.total)
        } else {
            guarded(Html(html::page(&frame, &page).into_string()).into_response())
        }
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "Status page: rendering failed.");
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; try again".into(),
        )
    })
}

/// One table of `page` as a CSV download; the first when none is named.
fn csv_response(page: &table::Page, name: Option<&str>, which: &Which, total: &str) -> Response {
    let table = match name {
        None => page.tables.first(),
        Some(n) => page.tables.iter().find(|t| t.id == n),
    };
    let Some(table) = table else {
        let ids: Vec<&str> = page.tables.iter().map(|t| t.id).collect();
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "no table {:?} on this page; allowed: {}",
                name.unwrap_or(""),
                ids.join(", ")
            ),
        );
    };
    match self::csv::render(table, total) {
        Ok(bytes) => {
            let file = format!("schoolwatch-{}-{}.csv", which.slug(), table.id);
            let mut resp = guarded(
                ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response(),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "Status page: CSV encoding failed.");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; try again".into(),
            )
        }
    }
}

// === login and logout ===

/// The login form's fields.
#[derive(serde::Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
    lang: Option<String>,
}

async fn login_form(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let q = match parse_query(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e),
    };
    let (lang, lang_param) = language(&q, &headers);
    let next = safe_next(q.next.as_deref());
    login_page(lang, lang_param, &next, false, StatusCode::OK)
}

fn login_page(
    lang: Lang,
    lang_param: Option<Lang>,
    next: &str,
    failed: bool,
    status: StatusCode,
) -> Response {
    let frame = html::Frame {
        lang,
        lang_param,
        t: strings(lang),
        who: None,
        path: "/status/login",
        as_of_ms: now_ms(),
        utc_offset_minutes: 0,
    };
    guarded(
        (
            status,
            Html(html::login(&frame, next, failed).into_string()),
        )
            .into_response(),
    )
}

async fn login(State(st): State<Arc<Status>>, headers: HeaderMap, body: Body) -> Response {
    if !auth::same_origin(&headers) {
        return plain(
            StatusCode::FORBIDDEN,
            "log in from the status page itself".into(),
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the login form is too large".into(),
        );
    };
    let form: LoginForm = match serde_urlencoded::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("bad login form: {e}; send name, password (and next)"),
            );
        }
    };
    let lang_param = form.lang.as_deref().and_then(Lang::parse);
    let lang = lang_param.unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    match st.auth.login(&form.name, &form.password).await {
        Some((value, who)) => {
            tracing::info!(user = %who.name, district = ?who.district, "Status page login.");
            let mut resp = see_other(&next);
            if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(&value, st.auth.ttl())) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        None => {
            let user: String = form.name.chars().take(64).collect();
            tracing::warn!(user = %user, "Status page login refused.");
            login_page(lang, lang_param, &next, true, StatusCode::UNAUTHORIZED)
        }
    }
}

async fn logout(State(st): State<Arc<Status>>, headers: HeaderMap) -> Response {
    if !auth::same_origin(&headers) {
        return plain(
            StatusCode::FORBIDDEN,
            "log out from the status page itself".into(),
        );
    }
    st.auth.logout(&headers);
    let mut resp = see_other("/status/login");
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Where to go after logging in: a status page, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/status" || n.starts_with("/status/") || n.starts_with("/status?"))
                && !n.contains(['\\', '\r', '\n'])
                && !n.starts_with("/status/login") =>
        {
            n.to_owned()
        }
        _ => "/status".to_owned(),
    }
}

/// To the login form, coming back here afterwards.
fn to_login(uri: &Uri, lang: Option<Lang>) -> Response {
    let here = uri
        .path_and_query()
        .map_or("/status", |p| p.as_str())
        .to_owned();
    let mut params = vec![("next", here)];
    if let Some(l) = lang {
        params.push(("lang", l.code().to_owned()));
    }
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    see_other(&format!("/status/login?{query}"))
}

// === answers ===

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        html::CSS,
    )
        .into_response()
}

fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    guarded(resp)
}

fn plain(status: StatusCode, message: String) -> Response {
    guarded((status, format!("{message}\n")).into_response())
}

/// Headers of every page: never cached (they hold staff-only figures),
/// never framed, no script, no referrer leaving for another site.
fn guarded(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser
    // sends `Origin: null` with our own login form, and ids in the URL
    // still never leave for another site.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_status_pages() {
        assert_eq!(
            safe_next(Some("/status/school/t-a?lang=en")),
            "/status/school/t-a?lang=en"
        );
        assert_eq!(safe_next(Some("/status?lang=en")), "/status?lang=en");
        for bad in [
            "https://evil.example/status",
            "//evil.example",
            "/statusx",
            "/metrics",
            "/status/login",
            "/status/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/status", "{bad}");
        }
        assert_eq!(safe_next(None), "/status");
    }

    #[test]
    fn csv_file_names_are_safe() {
        assert_eq!(Which::District("Chư Păh".into()).slug(), "district-Ch__P_h");
        assert_eq!(Which::Overview.slug(), "province");
        assert_eq!(Which::School("t-a".into()).slug(), "school-t-a");
    }
}
