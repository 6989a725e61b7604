//! Join posters: the QR codes on them are read back with rqrr, a QR decoder written apart
//! from the encoder the gateway uses, and must open the right `sms:` text and join page.

use crate::helpers::*;

/// The QR codes drawn by the SVGs in `text`, decoded. Each dark module of the encoder's SVG is
/// a square `M<x> <y>h<size>...` of its path; they are painted onto a greyscale image for rqrr.
fn decode_svgs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for svg in text.split("<svg").skip(1) {
        let svg = &svg[..svg.find("</svg>").expect("a closed svg")];
        let number = |after: &str| -> u32 {
            let start = svg.find(after).unwrap() + after.len();
            svg[start..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (width, height) = (number("width=\""), number("height=\""));
        let path = &svg[svg.find(" d=\"").unwrap() + 4..];
        let path = &path[..path.find('"').unwrap()];
        let (width, height) = (width as usize, height as usize);
        let mut pixels = vec![255u8; width * height];
        for module in path.split('M').filter(|m| !m.is_empty()) {
            let mut parts = module
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty());
            let x: usize = parts.next().unwrap().parse().unwrap();
            let y: usize = parts.next().unwrap().parse().unwrap();
            let size: usize = parts.next().unwrap().parse().unwrap();
            for dy in 0..size {
                let row = (y + dy) * width;
                pixels[row + x..row + x + size].fill(0);
            }
        }
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
            pixels[y * width + x]
        });
        for grid in prepared.detect_grids() {
            found.push(grid.decode().expect("a readable code").1);
        }
    }
    found
}

#[tokio::test]
async fn a_poster_codes_open_a_text_with_the_join_keyword_and_the_join_page() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/join/bloom/poster?location=store-12"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Join Bloom Rewards"), "{html}");
    assert!(html.contains("Downtown"), "the location's name");
    assert!(html.contains("Text JOIN to +1 500-555-0006"), "{html}");
    assert!(!html.contains("<?xml"), "inline SVG, no XML declaration");
    assert_eq!(
        decode_svgs(&html),
        [
            format!("sms:{SENDER}?body=JOIN"),
            "http://gateway.test/join/bloom".to_owned()
        ]
    );

    for (code, expected) in [
        ("sms", format!("sms:{SENDER}?body=JOIN")),
        ("web", "http://gateway.test/join/bloom".to_owned()),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/join/bloom/poster.svg?code={code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        assert_eq!(
            decode_svgs(&response.text().await.unwrap()),
            [expected.as_str()]
        );
        // The same code as a PNG file, decoded as any other picture would be.
        let response = app
            .client
            .get(app.url(&format!("/join/bloom/poster.png?code={code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(
            response.headers()["content-disposition"],
            format!("inline; filename=\"bloom-{code}.png\"")
        );
        let png = response.bytes().await.unwrap();
        assert_eq!(crate::browser::codes_in(&png), [expected.as_str()]);
    }
    let wrong = app
        .client
        .get(app.url("/join/bloom/poster.png?code=fax"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
}

#[tokio::test]
async fn a_poster_for_a_location_the_program_does_not_have_is_not_found() {
    let app = spawn_app().await;
    for path in [
        "/join/bloom/poster?location=store-99",
        "/join/nope/poster",
        "/join/nope/poster.svg",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = app
        .client
        .get(app.url("/join/bloom/poster.svg?code=fax"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
