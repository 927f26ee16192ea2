//! Scraping `/metrics` over HTTP as Prometheus would, and reading the samples: a strict reader of
//! the OpenMetrics text the operator serves (content type, one sample per line, `# EOF` last).

use std::{collections::BTreeMap, time::Instant};

use super::world::PATIENCE;

/// One sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One scrape.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// The whole body.
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// The samples of `name` whose labels include every one of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample of `name` with `labels`, if there is exactly one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).as_slice() {
            [one] => Some(one.value),
            [] => None,
            many => panic!("{name} {labels:?} matches {} samples: {many:?}", many.len()),
        }
    }

    /// Every sample about the rotation `namespace`/`name`.
    pub fn of_rotation(&self, namespace: &str, name: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.labels.get("namespace").map(String::as_str) == Some(namespace)
                    && s.labels.get("name").map(String::as_str) == Some(name)
            })
            .collect()
    }
}

/// Parses an OpenMetrics text exposition, panicking on anything malformed.
pub fn parse(text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the exposition ends with # EOF");
    let mut samples = vec![];
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                ["TYPE ", "HELP ", "UNIT "].iter().any(|p| comment.starts_with(p)),
                "unexpected comment line {line:?}"
            );
            continue;
        }
        samples.push(parse_sample(line));
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let name = line[..name_end].to_owned();
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "metric name {name:?}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            match c {
                '}' => break i,
                ',' => {}
                '=' => {
                    assert_eq!(
                        chars.next().map(|(_, c)| c),
                        Some('"'),
                        "quoted value in {line:?}"
                    );
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => panic!("bad escape in {line:?}"),
                            },
                            Some(c) => value.push(c),
                            None => panic!("unterminated value in {line:?}"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        };
        rest = &inner[end + 1..];
    }
    let value = rest.trim();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("value {v:?} of {line:?} is not a number")),
    };
    Sample { name, labels, value }
}

/// `GET url` (a `/metrics` URL), checked and parsed.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("the metrics endpoint answers");
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "content type {content_type:?}"
    );
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    Scrape { text, samples }
}

/// Scrapes `url` until `done` holds (metrics follow the status writes a test waits for by a
/// moment); panics with the last scrape after [`PATIENCE`].
pub async fn scrape_until(url: &str, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let scrape = scrape(url).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in the metrics within {PATIENCE:?}; last scrape:\n{}",
            scrape.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn the_reader_reads_labels_escapes_and_specials() {
    let samples = parse(
        "# HELP a_total A.\n# TYPE a counter\na_total{x=\"1\",y=\"q\\\"uote\"} 2\nb 3.5\nc_bucket{le=\"+Inf\"} 1\n# EOF\n",
    );
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].labels["y"], "q\"uote");
    assert_eq!(samples[1].value, 3.5);
    assert_eq!(samples[2].labels["le"], "+Inf");
}
