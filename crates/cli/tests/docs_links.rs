//! Every relative link in README.md and in the markdown pages under docs/ must lead somewhere:
//! to a file or folder of the repository and, with `#anchor`, to a heading of the markdown page
//! it names, as GitHub renders it. Pages move (the README was split into docs/), and a link that
//! broke on the way is found here rather than by a reader.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{BrokenLink, Event, LinkType, Options, Parser, Tag, TagEnd};

/// The markdown GitHub renders: tables and footnotes change where links are found.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// A link's destination as written, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    line: usize,
    dest: String,
}

/// A problem found in one page: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Broken {
    line: usize,
    reason: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The destinations of every link and image in `text`, and the references that name no
/// definition (`[text][missing]`; a bare `[text]` is ordinary prose, as GitHub treats it).
fn links_in(text: &str) -> (Vec<Link>, Vec<Broken>) {
    let mut undefined = Vec::new();
    let mut on_broken = |broken: BrokenLink<'_>| {
        if broken.link_type != LinkType::Shortcut {
            undefined.push(Broken {
                line: line_of(text, broken.span.start),
                reason: format!("reference `{}` is not defined", broken.reference),
            });
        }
        None
    };
    let mut links = Vec::new();
    let parser = Parser::new_with_broken_link_callback(text, options(), Some(&mut on_broken));
    for (event, range) in parser.into_offset_iter() {
        if let Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) = event {
            links.push(Link {
                line: line_of(text, range.start),
                dest: dest_url.into_string(),
            });
        }
    }
    (links, undefined)
}

/// GitHub's anchor for a heading's text: lower case; letters, digits, `-` and `_` kept, every
/// space a `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading of a page, in order; a repeated slug gets `-1`, `-2`, … as on
/// GitHub.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(text, options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(part) | Event::Code(part) => {
                if let Some(heading) = heading.as_mut() {
                    heading.push_str(&part);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(text) = heading.take() {
                    let base = slug(&text);
                    let mut candidate = base.clone();
                    let mut n = 0;
                    while seen.contains(&candidate) {
                        n += 1;
                        candidate = format!("{base}-{n}");
                    }
                    seen.insert(candidate);
                }
            }
            _ => {}
        }
    }
    seen
}

/// Whether a destination leaves the repository: a scheme (`https:`, `mailto:`) or `//host`.
fn is_external(dest: &str) -> bool {
    if dest.starts_with("//") {
        return true;
    }
    match dest.find(':') {
        Some(colon) => {
            let scheme = &dest[..colon];
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// `%20` and the like, as a browser would decode them; anything that is not a valid escape is
/// kept as written (and then names no file).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a/./b/../c` as `a/c`, without touching the file system; `None` when `..` climbs above the
/// repository's root.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Checks the links of one page, `page` being its path relative to `root`.
fn check_page(root: &Path, page: &Path, text: &str) -> Vec<Broken> {
    let (links, mut broken) = links_in(text);
    let folder = page.parent().unwrap_or(Path::new(""));
    for link in links {
        if link.dest.is_empty() || is_external(&link.dest) {
            continue;
        }
        let (path, anchor) = match link.dest.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (link.dest.as_str(), None),
        };
        let path = percent_decode(path);
        let target = if path.is_empty() {
            Some(page.to_path_buf())
        } else if let Some(from_root) = path.strip_prefix('/') {
            normalise(Path::new(from_root))
        } else {
            normalise(&folder.join(&path))
        };
        let Some(target) = target else {
            broken.push(Broken {
                line: link.line,
                reason: format!("link `{}` leaves the repository", link.dest),
            });
            continue;
        };
        let on_disk = root.join(&target);
        if !on_disk.exists() {
            broken.push(Broken {
                line: link.line,
                reason: format!("link `{}`: {} does not exist", link.dest, target.display()),
            });
            continue;
        }
        let Some(anchor) = anchor.filter(|anchor| !anchor.is_empty()) else {
            continue;
        };
        let anchor = percent_decode(anchor);
        if on_disk.extension().is_some_and(|ext| ext == "md") {
            let target_text = if target == page {
                text.to_owned()
            } else {
                fs::read_to_string(&on_disk).unwrap_or_default()
            };
            if !anchors(&target_text).contains(&anchor) {
                broken.push(Broken {
                    line: link.line,
                    reason: format!(
                        "link `{}`: {} has no heading whose anchor is `#{anchor}`",
                        link.dest,
                        target.display()
                    ),
                });
            }
        } else if !is_line_anchor(&anchor) {
            broken.push(Broken {
                line: link.line,
                reason: format!(
                    "link `{}`: {} is not a markdown page, so `#{anchor}` can only be a line (`#L12`, `#L12-L20`)",
                    link.dest,
                    target.display()
                ),
            });
        }
    }
    broken
}

/// GitHub's anchors into a file that is shown as code: `L12` or `L12-L20`.
fn is_line_anchor(anchor: &str) -> bool {
    let line = |part: &str| {
        part.strip_prefix('L')
            .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
    };
    match anchor.split_once('-') {
        Some((start, end)) => line(start) && line(end),
        None => line(anchor),
    }
}

fn markdown_under(root: &Path, folder: &Path, pages: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(root.join(folder)) else {
        return;
    };
    for entry in entries.flatten() {
        let relative = folder.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            markdown_under(root, &relative, pages);
        } else if relative.extension().is_some_and(|ext| ext == "md") {
            pages.push(relative);
        }
    }
}

/// Every broken link of README.md and docs/**/*.md, by page.
fn check_repository(root: &Path) -> BTreeMap<PathBuf, Vec<Broken>> {
    let mut pages = vec![PathBuf::from("README.md")];
    markdown_under(root, Path::new("docs"), &mut pages);
    let mut found = BTreeMap::new();
    for page in pages {
        let text = fs::read_to_string(root.join(&page))
            .unwrap_or_else(|err| panic!("{}: cannot be read: {err}", page.display()));
        let broken = check_page(root, &page, &text);
        if !broken.is_empty() {
            found.insert(page, broken);
        }
    }
    found
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_relative_link_in_readme_and_docs_resolves() {
    let root = repository_root();
    assert!(
        root.join("docs/README.md").is_file(),
        "docs/README.md (the manual's index) is missing"
    );
    let found = check_repository(&root);
    let report: Vec<String> = found
        .iter()
        .flat_map(|(page, broken)| {
            broken
                .iter()
                .map(move |b| format!("{}:{}: {}", page.display(), b.line, b.reason))
        })
        .collect();
    assert!(report.is_empty(), "broken links:\n{}", report.join("\n"));
}

#[test]
fn the_index_links_every_page_of_the_manual() {
    let root = repository_root();
    let index = fs::read_to_string(root.join("docs/README.md")).unwrap_or_default();
    let (links, _) = links_in(&index);
    let linked: HashSet<String> = links
        .iter()
        .map(|link| link.dest.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let mut pages = Vec::new();
    markdown_under(&root, Path::new("docs"), &mut pages);
    let unlinked: Vec<String> = pages
        .iter()
        .filter_map(|page| page.strip_prefix("docs").ok())
        .filter(|page| page.parent() == Some(Path::new("")) && *page != Path::new("README.md"))
        .map(|page| page.display().to_string())
        .filter(|page| !linked.contains(page))
        .collect();
    assert!(
        unlinked.is_empty(),
        "docs/README.md does not link these pages: {unlinked:?}"
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("The scanner: `airlock check`"),
        "the-scanner-airlock-check"
    );
    assert_eq!(
        slug("What could not be decided: `--strict-unknowns`"),
        "what-could-not-be-decided---strict-unknowns"
    );
    assert_eq!(slug("The scanner's evaluation"), "the-scanners-evaluation");
    assert_eq!(
        slug("`airlock accounts`, `whoami`, `guard`"),
        "airlock-accounts-whoami-guard"
    );
    assert_eq!(slug("snake_case and CAPS 2"), "snake_case-and-caps-2");
}

#[test]
fn repeated_headings_get_numbered_anchors() {
    let found = anchors("# Figures\n\n## Figures\n\ntext\n\n### Figures\n\n## Other *one*\n");
    let expected: HashSet<String> = ["figures", "figures-1", "figures-2", "other-one"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn headings_inside_code_blocks_are_not_anchors() {
    let found = anchors("# Real\n\n```toml\n# not a heading\n```\n");
    assert!(found.contains("real"));
    assert!(!found.contains("not-a-heading"));
}

#[test]
fn links_inside_code_are_not_links() {
    let (links, _) =
        links_in("see `[x](nowhere.md)` and\n\n```\n[y](nowhere.md)\n```\n[z](b.md)\n");
    assert_eq!(
        links,
        vec![Link {
            line: 6,
            dest: "b.md".into()
        }]
    );
}

#[test]
fn external_links_are_not_checked() {
    assert!(is_external("https://github.com/airlock-dev/airlock"));
    assert!(is_external("mailto:security@example.com"));
    assert!(is_external("//example.com/x"));
    assert!(!is_external("docs/check.md"));
    assert!(!is_external("check.md#a-first-scan"));
    assert!(!is_external("../deploy/policies/README.md"));
}

#[test]
fn line_anchors_into_code_files() {
    assert!(is_line_anchor("L12"));
    assert!(is_line_anchor("L12-L20"));
    assert!(!is_line_anchor("L"));
    assert!(!is_line_anchor("section"));
}

/// The checker itself must fail on each kind of broken link, and pass the good ones beside them.
#[test]
fn broken_links_in_a_small_tree_are_each_reported_with_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    fs::create_dir_all(root.join("docs")).expect("mkdir");
    fs::create_dir_all(root.join("deploy")).expect("mkdir");
    fs::write(root.join("deploy/policy.json"), "{}\n").expect("write");
    fs::write(
        root.join("docs/b.md"),
        "# Page B\n\n## The scanner: `airlock check`\n",
    )
    .expect("write");
    let readme = "\
# Front page

[good page](docs/b.md), [good anchor](docs/b.md#the-scanner-airlock-check),
[good folder](deploy/), [good file](deploy/policy.json#L1), [here](#front-page).
[missing page](docs/c.md)
[missing anchor](docs/b.md#no-such-heading)
[missing local anchor](#nowhere)
[outside](../../etc/passwd)
[moved without ../](docs/deploy/policy.json)
[not a line](deploy/policy.json#statement)
[undefined][nothing]
[fine external](https://example.com/x.md#whatever)
";
    fs::write(root.join("README.md"), readme).expect("write");

    let found = check_repository(root);
    let readme_problems = found
        .get(Path::new("README.md"))
        .cloned()
        .unwrap_or_default();
    let lines: Vec<usize> = readme_problems.iter().map(|b| b.line).collect();
    assert_eq!(
        lines,
        vec![11, 5, 6, 7, 8, 9, 10],
        "problems: {readme_problems:#?}"
    );
    let text = format!("{readme_problems:?}");
    assert!(text.contains("docs/c.md does not exist"), "{text}");
    assert!(
        text.contains("no heading whose anchor is `#no-such-heading`"),
        "{text}"
    );
    assert!(text.contains("`#nowhere`"), "{text}");
    assert!(text.contains("leaves the repository"), "{text}");
    assert!(
        text.contains("docs/deploy/policy.json does not exist"),
        "{text}"
    );
    assert!(text.contains("can only be a line"), "{text}");
    assert!(
        text.contains("reference `nothing` is not defined"),
        "{text}"
    );
    assert_eq!(
        found.len(),
        1,
        "docs/b.md has no links to break: {found:#?}"
    );

    // And a tree with only good links passes.
    fs::write(root.join("README.md"), "[b](docs/b.md#page-b)\n").expect("write");
    assert!(check_repository(root).is_empty());
}
