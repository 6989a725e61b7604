//! Join posters, `/join/{program}/poster`: a printable page for a shop's wall or counter with
//! the program's name, "Text JOIN to `<number>`", a QR code that opens the phone's messages app
//! with the keyword filled in (an RFC 5724 `sms:` URI), and a second one that opens the join
//! page. Public, like the number and the keyword it shows. `poster.svg?code=sms|web` is one code
//! alone, for a designer's own poster.

use actix_web::{get, web, HttpResponse};
use qrcode::render::svg;
use qrcode::QrCode;
use serde::Deserialize;

use crate::domain::{LocationId, Program};
use crate::routes::AppState;

#[derive(Debug, Deserialize)]
pub struct PosterQuery {
    /// A configured location: its name goes on the poster.
    location: Option<String>,
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    /// `sms` (the default) or `web`.
    code: Option<String>,
}

/// The `sms:` URI a poster's code opens: a text to the program's sending number with its first
/// join keyword.
pub fn sms_uri(program: &Program) -> String {
    let keyword = program.join_keywords.first().map_or("JOIN", String::as_str);
    let body: String = url::form_urlencoded::byte_serialize(keyword.as_bytes()).collect();
    format!("sms:{}?body={body}", program.numbers[0].as_str())
}

/// The join page's address under `server.public_url`.
pub fn join_url(state: &AppState, program: &Program) -> String {
    format!(
        "{}/join/{}",
        state.settings.server.public_url.trim_end_matches('/'),
        program.id.as_str()
    )
}

/// `data` as an SVG QR code (error correction M, a quiet zone of four modules), without an XML
/// declaration, so that it also goes inside a page.
pub fn qr_svg(data: &str) -> String {
    QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map(|qr| {
            let svg = qr
                .render::<svg::Color>()
                .min_dimensions(240, 240)
                .dark_color(svg::Color("#000000"))
                .light_color(svg::Color("#ffffff"))
                .build();
            match svg.find("<svg") {
                Some(start) => svg[start..].to_owned(),
                None => svg,
            }
        })
        .unwrap_or_default()
}

/// Pixels per module of a PNG code: a 33-module code with its quiet zone is 410 pixels wide.
const PNG_SCALE: usize = 10;

/// `data` as a greyscale PNG QR code (error correction M, a quiet zone of four modules).
pub fn qr_png(data: &str) -> Vec<u8> {
    const QUIET: usize = 4;
    let Ok(qr) = QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M) else {
        return Vec::new();
    };
    let modules = qr.width();
    let side = (modules + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in qr.to_colors().into_iter().enumerate() {
        if color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (i % modules + QUIET, i / modules + QUIET);
        for row in y * PNG_SCALE..(y + 1) * PNG_SCALE {
            let start = row * side + x * PNG_SCALE;
            pixels[start..start + PNG_SCALE].fill(0);
        }
    }
    let mut file = Vec::new();
    let mut encoder = png::Encoder::new(&mut file, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels));
    if let Err(e) = written {
        tracing::error!(error = %e, "a QR code's PNG did not encode");
        return Vec::new();
    }
    file
}

/// The number as a customer dials it from anywhere (`+1 500-555-0006`).
fn display_number(program: &Program) -> String {
    let e164 = program.numbers[0].as_str();
    phonenumber::parse(None, e164)
        .map(|n| {
            n.format()
                .mode(phonenumber::Mode::International)
                .to_string()
        })
        .unwrap_or_else(|_| e164.to_owned())
}

#[get("/join/{program}/poster")]
pub async fn poster(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PosterQuery>,
) -> HttpResponse {
    let Some(program) = super::join::program_of(&state, &path) else {
        return super::join::not_found(query.lang.as_deref());
    };
    let location = match query.location.as_deref() {
        None => None,
        Some(raw) => {
            let found = LocationId::parse(raw)
                .ok()
                .and_then(|id| program.locations.iter().find(|l| l.id == id));
            match found {
                Some(location) => Some(location.name.clone()),
                None => return super::join::not_found(query.lang.as_deref()),
            }
        }
    };
    let t = super::join::strings_for(&program, query.lang.as_deref());
    let keyword = program
        .join_keywords
        .first()
        .cloned()
        .unwrap_or_else(|| "JOIN".into());
    let url = join_url(&state, &program);
    let values: Vec<(&str, minijinja::Value)> = vec![
        ("t", minijinja::Value::from_serialize(t)),
        ("program", program.name.clone().into()),
        ("location", location.into()),
        ("keyword", keyword.into()),
        ("number", display_number(&program).into()),
        ("join_url", url.clone().into()),
        (
            "sms_code",
            minijinja::Value::from_safe_string(qr_svg(&sms_uri(&program))),
        ),
        ("web_code", minijinja::Value::from_safe_string(qr_svg(&url))),
    ];
    super::page(
        HttpResponse::Ok(),
        "poster.html",
        values.into_iter().collect(),
    )
}

/// What a code encodes (`code=sms`, the default, or `web`); none for another `code`.
fn code_data(state: &AppState, program: &Program, code: Option<&str>) -> Option<String> {
    match code {
        None | Some("sms") => Some(sms_uri(program)),
        Some("web") => Some(join_url(state, program)),
        Some(_) => None,
    }
}

fn unknown_code() -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body("code must be sms or web")
}

/// One code alone, as a file to download: `poster.svg` for a designer's own poster, or
/// `poster.png` for print shops and tools that take no SVG.
#[get("/join/{program}/poster.{format}")]
pub async fn poster_code(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<CodeQuery>,
) -> HttpResponse {
    let (program, format) = (&path.0, path.1.as_str());
    let Some(program) = super::join::program_of(&state, program) else {
        return super::join::not_found(None);
    };
    let code = query.code.as_deref();
    let Some(data) = code_data(&state, &program, code) else {
        return unknown_code();
    };
    let (content_type, body) = match format {
        "svg" => ("image/svg+xml", qr_svg(&data).into_bytes()),
        "png" => ("image/png", qr_png(&data)),
        _ => return super::join::not_found(None),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!(
                "inline; filename=\"{}-{}.{format}\"",
                program.id.as_str(),
                code.unwrap_or("sms")
            ),
        ))
        .body(body)
}
