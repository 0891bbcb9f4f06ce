//! `airlock check`: the guardrail scanner.
//!
//! The pipeline: [`discover`] walks the paths (respecting `.gitignore`), [`formats`] parse
//! each file in parallel into facts of the normalised [`model`], [`rules`] run over each unit
//! (a file, or a Terraform module directory), [`suppress`] applies inline suppressions, and
//! [`report`] renders the result for people and CI systems.
//!
//! This crate does no I/O beyond reading the files it is given and never links the AWS SDK.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod config;
pub mod discover;
pub mod finding;
pub mod formats;
pub mod model;
pub mod node;
pub mod report;
pub mod rules;
pub mod secrets;
pub mod source;
pub mod suppress;
mod undecided;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;

pub use config::Config;
pub use finding::{Finding, ScanError, Severity};
pub use source::SourceFile;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub paths: Vec<PathBuf>,
    pub config: Config,
    /// Honour `airlock:ignore` comments and metadata (off with `--no-inline-suppressions`).
    pub inline_suppressions: bool,
    /// What the user says of the code's inputs (CloudFormation parameter values).
    pub parse: formats::ParseOptions,
    /// `--strict-unknowns`: also list what the rules could not decide ([`ScanResult::undecided`]).
    pub strict_unknowns: bool,
}

/// What a scan found, sorted deterministically (file, line, rule, fingerprint).
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    pub findings: Vec<Finding>,
    pub errors: Vec<ScanError>,
    /// Files of a recognised kind that were parsed.
    pub files_scanned: usize,
    /// Those files by format (`terraform`, `cloudformation`, …): a file read as two kinds
    /// counts under each, a credential file found only by name under none.
    pub files_by_format: BTreeMap<&'static str, usize>,
    /// With `--strict-unknowns`: where a rule would report if unknown values took their
    /// least safe values, as findings of that rule whose message names the unknowns. Empty
    /// otherwise.
    pub undecided: Vec<Finding>,
    /// Whether the scan looked for undecided places (`--strict-unknowns`): reports then
    /// show the list, even when it is empty.
    pub strict_unknowns: bool,
    /// What was not evaluated, though not an error (a registry module is not fetched): worth
    /// telling, but it does not make the scan fail.
    pub notices: Vec<ScanError>,
}

/// Scans the paths in `options`.
pub fn scan(options: &ScanOptions) -> ScanResult {
    let discovered = discover::walk(&options.paths, &options.config);
    let mut errors = discovered.errors;
    let files: Vec<Result<Option<SourceFile>, ScanError>> = discovered
        .files
        .par_iter()
        .map(|path| discover::read(path))
        .collect();
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        match file {
            Ok(Some(source)) => sources.push(source),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut result = scan_units(&sources, options);
    let anchors = FingerprintAnchors::new(&options.paths);
    for f in result.findings.iter_mut().chain(&mut result.undecided) {
        let stable = anchors.stable_path(&f.file);
        f.fingerprint = finding::fingerprint(&[&f.fingerprint, &stable]);
    }
    result.errors.extend(errors);
    sort(&mut result);
    result
}

/// Fingerprints go into baselines and SARIF `partialFingerprints`, which must survive a
/// checkout in another directory and a scan started from another folder. So the path they
/// hash is taken relative to the enclosing git work tree, or, outside one, to the scanned
/// directory.
struct FingerprintAnchors {
    /// The canonical scanned directories (a scanned file counts as its directory).
    roots: Vec<PathBuf>,
}

impl FingerprintAnchors {
    fn new(paths: &[PathBuf]) -> Self {
        let roots = paths
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .map(|p| match p.is_file() {
                true => p.parent().map(|d| d.to_path_buf()).unwrap_or(p),
                false => p,
            })
            .collect();
        FingerprintAnchors { roots }
    }

    fn stable_path(&self, file: &str) -> String {
        let Ok(canonical) = std::path::Path::new(file).canonicalize() else {
            return file.to_string();
        };
        let git_root = canonical
            .ancestors()
            .skip(1)
            .find(|dir| dir.join(".git").exists());
        let scan_root = self
            .roots
            .iter()
            .filter(|root| canonical.starts_with(root))
            .max_by_key(|root| root.components().count());
        match git_root.or(scan_root.map(|r| r.as_path())) {
            Some(anchor) => canonical
                .strip_prefix(anchor)
                .map(discover::display)
                .unwrap_or_else(|_| file.to_string()),
            None => file.to_string(),
        }
    }
}

/// Scans files already in memory (the examples, tests, and stdin use this). Fingerprints
/// hash the paths as given.
pub fn scan_sources(sources: &[SourceFile], options: &ScanOptions) -> ScanResult {
    let mut result = scan_units(sources, options);
    for f in result.findings.iter_mut().chain(&mut result.undecided) {
        f.fingerprint = finding::fingerprint(&[&f.fingerprint, &f.file]);
    }
    sort(&mut result);
    result
}

/// Scans AWS config and credentials files as one set of profiles, whatever their names and
/// directories (`airlock accounts lint`). Fingerprints hash the paths as given.
pub fn scan_aws_files(
    files: &[(SourceFile, formats::awsconfig::AwsFileKind)],
    options: &ScanOptions,
) -> ScanResult {
    let sources: Vec<SourceFile> = files.iter().map(|(file, _)| file.clone()).collect();
    let parsed = files
        .iter()
        .enumerate()
        .map(|(i, (file, kind))| (i, vec![formats::awsconfig::parse_as(file, *kind)]))
        .collect();
    let mut result = evaluate(&sources, parsed, options, |_, _| "aws-files".to_string());
    for f in result.findings.iter_mut().chain(&mut result.undecided) {
        f.fingerprint = finding::fingerprint(&[&f.fingerprint, &f.file]);
    }
    sort(&mut result);
    result
}

/// The scan proper; fingerprints do not yet include the file.
fn scan_units(sources: &[SourceFile], options: &ScanOptions) -> ScanResult {
    let parsed = parse_all(sources, options);
    evaluate(sources, parsed, options, unit_key)
}

/// Parses every file in parallel. Terraform takes two passes: its files' blocks first, then
/// each module directory's inputs (variables from defaults, tfvars files and the user's
/// values; the calls of local modules), then the facts with those evaluated: each directory
/// as a root (or, if another directory calls it, only its declarations), and each module
/// instance that a root's calls make.
fn parse_all(sources: &[SourceFile], options: &ScanOptions) -> Vec<(usize, Vec<formats::Parsed>)> {
    use formats::FirstPass;
    use formats::terraform::{self, Directories, Evaluated, ModuleInputs};
    let first: Vec<FirstPass> = sources
        .par_iter()
        .map(|file| formats::first_pass(file, &options.parse))
        .collect();
    let mut directories = Directories::default();
    for (index, (file, pass)) in sources.iter().zip(&first).enumerate() {
        if let FirstPass::Terraform {
            blocks: Ok(blocks), ..
        } = pass
        {
            directories.add_file(index, file, blocks);
        }
    }
    for file in sources {
        if let Some(vars) = terraform::tfvars(file) {
            directories.add_tfvars(file, vars);
        }
    }
    let given: Vec<terraform::TfVars<'_>> = options
        .parse
        .tf_vars
        .iter()
        .map(|(name, values)| terraform::TfVars {
            name,
            values: values.clone(),
        })
        .collect();
    let mut plan = directories.plan(&given);
    let jobs: Vec<(&terraform::ModuleInstance, &terraform::ModuleFile<'_>)> = plan
        .instances
        .iter()
        .flat_map(|instance| {
            directories
                .files(&instance.dir)
                .iter()
                .map(move |file| (instance, file))
        })
        .collect();
    let mut instances: Vec<(usize, formats::Parsed)> = jobs
        .into_par_iter()
        .map(|(instance, (index, file, blocks))| {
            let how = Evaluated::Instance(instance);
            (
                *index,
                terraform::facts_with(file, blocks, &instance.inputs, how),
            )
        })
        .collect();
    for (index, notice) in std::mem::take(&mut plan.notices) {
        let mut parsed = formats::Parsed::new(rules::Format::Terraform);
        parsed.notices.push(notice);
        instances.push((index, parsed));
    }
    let none = (ModuleInputs::default(), false);
    let mut parsed: Vec<(usize, Vec<formats::Parsed>)> = first
        .into_par_iter()
        .enumerate()
        .map(|(i, pass)| match pass {
            FirstPass::Done(parsed) => (i, parsed),
            FirstPass::Terraform { blocks, others } => {
                let file = &sources[i];
                let (inputs, called) = plan
                    .roots
                    .get(&terraform::directory(&file.path))
                    .unwrap_or(&none);
                let how = match called {
                    true => Evaluated::CalledModule,
                    false => Evaluated::Root,
                };
                let mut parsed = vec![match blocks {
                    Ok(blocks) => terraform::facts_with(file, &blocks, inputs, how),
                    Err(error) => terraform::parse_error(error),
                }];
                parsed.extend(others);
                (i, parsed)
            }
        })
        .collect();
    for (index, instance) in instances {
        if let Some((_, parses)) = parsed.get_mut(index) {
            parses.push(instance);
        }
    }
    parsed
}

/// Groups parsed facts into units by `key`, runs the enabled rules over each unit, and
/// applies suppressions and severity overrides.
fn evaluate(
    sources: &[SourceFile],
    parsed: Vec<(usize, Vec<formats::Parsed>)>,
    options: &ScanOptions,
    key: impl Fn(&SourceFile, Option<rules::Format>) -> String,
) -> ScanResult {
    let mut result = ScanResult::default();
    let mut units: BTreeMap<String, Pending<'_>> = BTreeMap::new();
    let mut suppressions = Vec::new();
    for (index, parses) in parsed {
        if parses.is_empty() {
            continue;
        }
        let file = &sources[index];
        result.files_scanned += 1;
        let mut any_format = false;
        let mut formats: Vec<&'static str> = Vec::new();
        for parsed in parses {
            if let Some(format) = parsed.format.filter(|f| *f != rules::Format::AnyFile) {
                any_format = true;
                if !formats.contains(&format.as_str()) {
                    formats.push(format.as_str());
                }
            }
            result.errors.extend(parsed.errors);
            result.notices.extend(parsed.notices);
            suppressions.extend(parsed.suppressions);
            // A module instance is planned with its root module.
            let unit_key = match &parsed.through {
                Some(through) => format!("terraform:{}", directory_of(&through.root_file)),
                None => key(file, parsed.format),
            };
            let unit = units.entry(unit_key).or_default();
            if !parsed.notes.is_empty() {
                unit.notes
                    .entry(file.path.as_ref())
                    .or_default()
                    .extend(parsed.notes);
            }
            if let Some(through) = parsed.through
                && !unit.instances.iter().any(|t| t.address == through.address)
            {
                unit.instances.push(through);
            }
            unit.unit.facts.extend(parsed.facts);
        }
        for format in formats {
            *result.files_by_format.entry(format).or_default() += 1;
        }
        if any_format && options.inline_suppressions {
            suppressions.extend(suppress::from_comments(file));
        }
    }
    if !options.inline_suppressions {
        suppressions.clear();
    }

    let enabled: Vec<&dyn rules::Rule> = rules::all()
        .iter()
        .copied()
        .filter(|r| options.config.is_enabled(r.meta()))
        .collect();
    let convention = options.config.accounts();
    let units: Vec<Pending<'_>> = units
        .into_values()
        .map(|mut pending| {
            pending.unit.convention = convention.clone();
            pending
        })
        .collect();
    let (mut findings, mut undecided): (Vec<Finding>, Vec<Finding>) = units
        .par_iter()
        .map(|pending| {
            let mut out = Vec::new();
            for rule in &enabled {
                rule.check(&pending.unit, &mut out);
            }
            let mut undecided = match options.strict_unknowns {
                true => undecided::undecided(&pending.unit, &enabled, &out),
                false => Vec::new(),
            };
            for finding in &mut out {
                add_notes(finding, pending.notes.get(finding.file.as_str()));
            }
            for finding in out.iter_mut().chain(&mut undecided) {
                // The innermost instance the resource is in.
                let through = pending
                    .instances
                    .iter()
                    .filter(|t| {
                        finding
                            .resource
                            .strip_prefix(t.address.as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                    })
                    .max_by_key(|t| t.address.len());
                if let Some(through) = through {
                    finding.fingerprint =
                        finding::fingerprint(&[&finding.fingerprint, &through.root]);
                    finding.message = format!(
                        "{} (through {})",
                        finding.message,
                        through.calls.join(", then ")
                    );
                }
            }
            (out, undecided)
        })
        .reduce(
            || (Vec::new(), Vec::new()),
            |mut a, b| {
                a.0.extend(b.0);
                a.1.extend(b.1);
                a
            },
        );

    // What a suppression accepts is decided: an undecided place under it is not listed.
    suppress::apply_with_undecided(&mut findings, &mut undecided, &suppressions);
    undecided.retain(|f| f.suppressed.is_none());
    for list in [&mut findings, &mut undecided] {
        list.retain(|f| rules::find(f.rule).is_none_or(|meta| options.config.is_enabled(meta)));
        for f in list.iter_mut() {
            if let Some(severity) = options.config.severity_override(f.rule) {
                f.severity = severity;
            }
        }
    }
    result.findings = findings;
    result.undecided = undecided;
    result.strict_unknowns = options.strict_unknowns;
    result
}

/// A unit's facts, and what to say of its findings: where values came from parameters (by
/// file), and the module calls that lead to the resources of module instances.
#[derive(Default)]
struct Pending<'a> {
    unit: rules::Unit,
    notes: BTreeMap<&'a str, Vec<formats::Note>>,
    /// The module instances among the facts.
    instances: Vec<formats::Through>,
}

/// Terraform evaluates a directory as one module; everything else stands alone.
fn unit_key(file: &SourceFile, format: Option<rules::Format>) -> String {
    match format {
        Some(rules::Format::Terraform) => format!("terraform:{}", directory(file)),
        // A directory's `config` and `credentials` are one set of profiles.
        Some(rules::Format::AwsConfig) => format!("aws-config:{}", directory(file)),
        _ => format!("file:{}", file.path),
    }
}

/// Says which parameters a finding's value came from: the notes on the lines it points at
/// whose value the message names ("allows 0.0.0.0/0 ... (AllowedCidr defaults to
/// 0.0.0.0/0)"). A parameter used elsewhere in the same lines, or one that only named the
/// resource, is not what the finding is about, and is left out.
fn add_notes(finding: &mut Finding, notes: Option<&Vec<formats::Note>>) {
    let Some(notes) = notes else {
        return;
    };
    let mut said: Vec<&str> = Vec::new();
    for note in notes {
        if (finding.line..=finding.end_line).contains(&note.line)
            && note
                .resource
                .as_ref()
                .is_none_or(|r| *r == finding.resource)
            && !note.value.is_empty()
            && finding.message.contains(note.value.as_str())
            && !finding.resource.contains(note.value.as_str())
            && !said.contains(&note.text.as_str())
        {
            said.push(&note.text);
        }
    }
    if !said.is_empty() {
        finding.message = format!("{} ({})", finding.message, said.join("; "));
    }
}

fn directory(file: &SourceFile) -> &str {
    directory_of(&file.path)
}

fn directory_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".")
}

fn sort(result: &mut ScanResult) {
    for list in [&mut result.findings, &mut result.undecided] {
        list.sort_by(|a, b| {
            (&a.file, a.line, a.rule, &a.resource, &a.fingerprint).cmp(&(
                &b.file,
                b.line,
                b.rule,
                &b.resource,
                &b.fingerprint,
            ))
        });
        list.dedup_by(|a, b| a.fingerprint == b.fingerprint && a.line == b.line);
    }
    result
        .errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    result.errors.dedup();
    result
        .notices
        .sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    result.notices.dedup();
}
