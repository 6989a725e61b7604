//! The pages people open in a browser, served by the same app as the API but outside its
//! document (they answer HTML, not JSON, and take no API key header): the public join form,
//! `/join/{program}`, and its printable posters; the dashboard, `/dashboard`. Server-rendered
//! from minijinja templates built into the binary (`web/templates/`, HTML-escaped), readable
//! and usable without JavaScript, each page's words in one place per locale ([`strings`]).

pub mod campaigns;
pub mod dashboard;
pub mod join;
pub mod poster;
pub mod session;
pub mod strings;

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use minijinja::Environment;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(join::form)
        .service(join::submit)
        .service(poster::poster)
        .service(poster::poster_code)
        .service(dashboard::overview)
        .service(dashboard::sign_in_form)
        .service(dashboard::sign_in)
        .service(dashboard::sign_out)
        .service(dashboard::locations_page)
        .service(dashboard::operations_page)
        .service(dashboard::requeue)
        .service(dashboard::members_page)
        .service(dashboard::member_page)
        .service(dashboard::adjust)
        .service(dashboard::erase)
        .service(dashboard::automations_page)
        .service(campaigns::asset)
        .service(campaigns::list_page)
        .service(campaigns::new_form)
        .service(campaigns::create)
        .service(campaigns::preview_panel)
        .service(campaigns::campaign_page)
        .service(campaigns::save)
        .service(campaigns::act);
}

/// Every page template, by name.
const TEMPLATES: [(&str, &str); 17] = [
    ("join.html", include_str!("../../web/templates/join.html")),
    (
        "poster.html",
        include_str!("../../web/templates/poster.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../web/templates/dashboard.html"),
    ),
    (
        "_header.html",
        include_str!("../../web/templates/_header.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../web/templates/sign_in.html"),
    ),
    (
        "overview.html",
        include_str!("../../web/templates/overview.html"),
    ),
    (
        "locations.html",
        include_str!("../../web/templates/locations.html"),
    ),
    (
        "operations.html",
        include_str!("../../web/templates/operations.html"),
    ),
    (
        "members.html",
        include_str!("../../web/templates/members.html"),
    ),
    (
        "member.html",
        include_str!("../../web/templates/member.html"),
    ),
    (
        "automations.html",
        include_str!("../../web/templates/automations.html"),
    ),
    (
        "campaigns.html",
        include_str!("../../web/templates/campaigns.html"),
    ),
    (
        "campaign_form.html",
        include_str!("../../web/templates/campaign_form.html"),
    ),
    (
        "_preview.html",
        include_str!("../../web/templates/_preview.html"),
    ),
    (
        "campaign.html",
        include_str!("../../web/templates/campaign.html"),
    ),
    ("_htmx.html", include_str!("../../web/templates/_htmx.html")),
    (
        "campaign_missing.html",
        include_str!("../../web/templates/campaign_missing.html"),
    ),
];

/// The page templates; `.html` names are HTML-escaped.
static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("web/templates/{name}: {e}"));
    }
    env
});

/// `name` rendered with `context`, as a response of `status` with the headers every page has:
/// nothing cached (a form carries a fresh token), nothing loaded from elsewhere, no framing.
fn page(mut status: HttpResponseBuilder, name: &str, context: minijinja::Value) -> HttpResponse {
    let html = match PAGES.get_template(name).and_then(|t| t.render(context)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template = name, error = %e, "a page did not render");
            status = HttpResponse::InternalServerError();
            String::from("<!doctype html><title>Error</title><p>Something went wrong.</p>")
        }
    };
    status
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(html)
}

/// The client's address: from `server.client_ip_header` when a proxy in front sets it (the
/// last address of a list, the one that proxy saw), else the connection's.
fn client_address(request: &HttpRequest, header_name: Option<&str>) -> String {
    header_name
        .and_then(|name| request.headers().get(name))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(|value| value.trim().to_owned())
        .filter(|value| value.parse::<std::net::IpAddr>().is_ok())
        .or_else(|| request.peer_addr().map(|addr| addr.ip().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_template_parses() {
        for (name, _) in super::TEMPLATES {
            assert!(super::PAGES.get_template(name).is_ok(), "{name}");
        }
    }
}
