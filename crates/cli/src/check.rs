//! `airlock check`: wiring between the arguments and the scanner crate. The scan, the
//! reports and the baseline logic live in `airlock-check`; this module decides where the
//! configuration comes from, where the report goes, and the exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;

use airlock_check::baseline::Baseline;
use airlock_check::report::{self, ReportFormat as Format, ReportOptions};
use airlock_check::{Config, ScanOptions, ScanResult, Severity};

use crate::args::{CheckArgs, ColorChoice, ReportFormat, SeverityArg};
use crate::exit::Exit;

/// The configuration file read when `--config` is not given, from the current directory.
pub const DEFAULT_CONFIG: &str = "airlock.toml";

pub fn run(args: CheckArgs, color: ColorChoice) -> Exit {
    if args.list_rules {
        return list_rules(&args);
    }
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(message) => {
            tracing::error!("{message}");
            return Exit::Usage;
        }
    };
    let baseline = match &args.baseline {
        Some(path) => match Baseline::load(path) {
            Ok(baseline) => Some(baseline),
            Err(e) => {
                tracing::error!("{e}");
                return Exit::Usage;
            }
        },
        None => None,
    };

    let cfn_params = match cfn_params(&args) {
        Ok(params) => params,
        Err(message) => {
            tracing::error!("{message}");
            return Exit::Usage;
        }
    };
    let tf_vars = match tf_vars(&args) {
        Ok(vars) => vars,
        Err(message) => {
            tracing::error!("{message}");
            return Exit::Usage;
        }
    };
    let mut result = airlock_check::scan(&ScanOptions {
        paths: args.paths.clone(),
        config,
        inline_suppressions: !args.no_inline_suppressions,
        parse: airlock_check::formats::ParseOptions {
            cfn_params,
            tf_vars,
        },
        strict_unknowns: args.strict_unknowns,
    });
    // What was not evaluated (a registry module) is told, but does not fail the scan.
    for notice in &result.notices {
        tracing::info!("{notice}");
    }

    if let Some(path) = &args.write_baseline {
        return write_baseline(&result, path);
    }

    let baselined = baseline.map_or(0, |b| b.apply(&mut result));
    let format = report_format(args.format);
    let options = ReportOptions {
        color: format == Format::Human && wants_color(color, args.output.as_deref()),
        baselined,
        sources: if format == Format::Human {
            report::read_sources(&result)
        } else {
            Default::default()
        },
    };
    let text = report::render(format, &result, &options);
    if let Err(message) = emit(&text, args.output.as_deref()) {
        tracing::error!("{message}");
        return Exit::Usage;
    }
    exit_code(&result, threshold(args.severity))
}

/// CloudFormation parameter values: the files in order, then `--cfn-param`.
fn cfn_params(args: &CheckArgs) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut params = std::collections::BTreeMap::new();
    for path in &args.cfn_params {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--cfn-params {}: {e}", path.display()))?;
        let values = airlock_check::formats::intrinsics::read_parameter_file(&text)
            .map_err(|e| format!("--cfn-params {}: {e}", path.display()))?;
        params.extend(values);
    }
    for pair in &args.cfn_param {
        let (name, value) = name_value("--cfn-param", pair)?;
        params.insert(name, value.to_string());
    }
    Ok(params)
}

/// A `NAME=VALUE` flag value: the name trimmed, the value as given (it may contain `=`).
fn name_value<'a>(flag: &str, pair: &'a str) -> Result<(String, &'a str), String> {
    pair.split_once('=')
        .filter(|(name, _)| !name.trim().is_empty())
        .map(|(name, value)| (name.trim().to_string(), value))
        .ok_or_else(|| format!("{flag} {pair:?}: expected NAME=VALUE"))
}

/// Terraform variable values: each `--var-file` in order, then the `--var`s.
type TfVars = Vec<(String, Vec<(String, airlock_check::node::Node)>)>;

fn tf_vars(args: &CheckArgs) -> Result<TfVars, String> {
    use airlock_check::formats::terraform;
    let mut out = Vec::new();
    for path in &args.tf_var_file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("--var-file {shown}: {e}"))?;
        let values = terraform::var_file(&text).map_err(|e| format!("--var-file {shown}: {e}"))?;
        out.push((shown, values));
    }
    let mut given = Vec::new();
    for pair in &args.tf_var {
        let (name, value) = name_value("--var", pair)?;
        given.push((name, terraform::var_value(value)));
    }
    if !given.is_empty() {
        out.push(("--var".to_string(), given));
    }
    Ok(out)
}

/// Parse errors win over findings: an incomplete scan must not pass, whatever it found.
/// Undecided places (only listed with `--strict-unknowns`) count as findings.
pub fn exit_code(result: &ScanResult, threshold: Severity) -> Exit {
    if !result.errors.is_empty() {
        Exit::Usage
    } else if result
        .findings
        .iter()
        .chain(&result.undecided)
        .any(|f| f.suppressed.is_none() && f.severity >= threshold)
    {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

fn load_config(args: &CheckArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None if Path::new(DEFAULT_CONFIG).is_file() => {
            Config::load(Path::new(DEFAULT_CONFIG)).map_err(|e| e.to_string())?
        }
        None => Config::default(),
    };
    for rule in &args.disable {
        let meta = airlock_check::rules::find(rule).ok_or_else(|| {
            format!("--disable {rule}: unknown rule (see `airlock check --list-rules`)")
        })?;
        config.disable(meta.code);
    }
    Ok(config)
}

fn list_rules(args: &CheckArgs) -> Exit {
    let text = match args.format {
        ReportFormat::Human => report::list_rules_text(),
        ReportFormat::Json => report::list_rules_json(),
        other => {
            tracing::error!(
                "--list-rules prints `human` or `json`, not `{}`",
                format_name(other)
            );
            return Exit::Usage;
        }
    };
    match emit(&text, args.output.as_deref()) {
        Ok(()) => Exit::Ok,
        Err(message) => {
            tracing::error!("{message}");
            Exit::Usage
        }
    }
}

/// Writes the baseline even when some files could not be parsed, but then exits 2: the
/// baseline is missing whatever those files hold.
fn write_baseline(result: &ScanResult, path: &Path) -> Exit {
    let baseline = Baseline::from_findings(&result.findings);
    if let Err(e) = baseline.write(path) {
        tracing::error!("{e}");
        return Exit::Usage;
    }
    tracing::info!(
        "wrote {} fingerprints to {}",
        baseline.len(),
        path.display()
    );
    if result.errors.is_empty() {
        return Exit::Ok;
    }
    for error in &result.errors {
        tracing::error!("{error}");
    }
    Exit::Usage
}

pub(crate) fn emit(text: &str, output: Option<&Path>) -> Result<(), String> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("cannot write report to {}: {e}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write report to stdout: {e}"))
        }
    }
}

/// `--color always` forces colour, `never` forbids it; `auto` colours a terminal unless
/// NO_COLOR is set. A report written to a file is never coloured automatically.
pub(crate) fn wants_color(choice: ColorChoice, output: Option<&Path>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            output.is_none()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

pub(crate) fn report_format(format: ReportFormat) -> Format {
    match format {
        ReportFormat::Human => Format::Human,
        ReportFormat::Json => Format::Json,
        ReportFormat::Sarif => Format::Sarif,
        ReportFormat::Junit => Format::Junit,
        ReportFormat::Github => Format::Github,
    }
}

fn format_name(format: ReportFormat) -> &'static str {
    match format {
        ReportFormat::Human => "human",
        ReportFormat::Json => "json",
        ReportFormat::Sarif => "sarif",
        ReportFormat::Junit => "junit",
        ReportFormat::Github => "github",
    }
}

pub fn threshold(severity: SeverityArg) -> Severity {
    match severity {
        SeverityArg::Low => Severity::Low,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::High => Severity::High,
        SeverityArg::Critical => Severity::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_check::node::Span;
    use airlock_check::{Finding, ScanError};

    fn finding(severity: Severity, suppressed: Option<&str>) -> Finding {
        Finding {
            rule: "K8S004",
            name: "k8s-runs-as-root",
            severity,
            file: "deployment.yaml".into(),
            line: 3,
            end_line: 4,
            resource: "Deployment/default/web".into(),
            resource_span: Span::new(1, 4),
            message: "container web may run as root".into(),
            fingerprint: "0123456789abcdef".into(),
            suppressed: suppressed.map(str::to_string),
        }
    }

    fn result(findings: Vec<Finding>, errors: usize) -> ScanResult {
        ScanResult {
            findings,
            errors: (0..errors)
                .map(|i| ScanError {
                    file: format!("broken{i}.yaml"),
                    line: 1,
                    message: "bad".into(),
                })
                .collect(),
            files_scanned: 1,
            ..ScanResult::default()
        }
    }

    #[test]
    fn undecided_places_count_as_findings() {
        let mut strict = result(vec![], 0);
        strict.undecided = vec![finding(Severity::High, None)];
        assert_eq!(exit_code(&strict, Severity::Low), Exit::Findings);
        assert_eq!(exit_code(&strict, Severity::Critical), Exit::Ok);
    }

    #[test]
    fn findings_at_or_above_the_threshold_exit_1() {
        let high = result(vec![finding(Severity::High, None)], 0);
        assert_eq!(exit_code(&high, Severity::Low), Exit::Findings);
        assert_eq!(exit_code(&high, Severity::High), Exit::Findings);
        assert_eq!(exit_code(&high, Severity::Critical), Exit::Ok);
    }

    #[test]
    fn suppressed_findings_do_not_count() {
        let suppressed = result(vec![finding(Severity::Critical, Some("accepted"))], 0);
        assert_eq!(exit_code(&suppressed, Severity::Low), Exit::Ok);
    }

    #[test]
    fn errors_win_over_findings() {
        let both = result(vec![finding(Severity::Critical, None)], 1);
        assert_eq!(exit_code(&both, Severity::Low), Exit::Usage);
        assert_eq!(
            exit_code(&result(vec![], 1), Severity::Critical),
            Exit::Usage
        );
        assert_eq!(exit_code(&result(vec![], 0), Severity::Low), Exit::Ok);
    }

    #[test]
    fn severity_arguments_map_one_to_one() {
        assert_eq!(threshold(SeverityArg::Low), Severity::Low);
        assert_eq!(threshold(SeverityArg::Medium), Severity::Medium);
        assert_eq!(threshold(SeverityArg::High), Severity::High);
        assert_eq!(threshold(SeverityArg::Critical), Severity::Critical);
    }
}
