//! Account rules (ACC): AWS CLI config and credentials files checked against the account
//! naming convention of `[accounts]` in `airlock.toml` (see `airlock-accounts`), and
//! against the rules of AWS's own credential chain.
//!
//! The config and credentials files of one directory are one unit, so a `source_profile`
//! in `config` may name a profile of `credentials`. ACC001–ACC005 need the convention and
//! say nothing without it; ACC006–ACC008 always apply.

use std::collections::{BTreeMap, BTreeSet};

use airlock_accounts::Convention;

use crate::finding::{Finding, Severity};
use crate::model::{AwsProfile, Fact, Site, Span};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &ProfileName,
    &ProfileEnvMismatch,
    &AccountWithTwoEnvs,
    &ProtectedRoleWithoutMfa,
    &ProtectedStaticKeys,
    &BrokenSourceProfile,
    &DurationOutOfBounds,
    &NoRegion,
];

/// The convention the examples of these rules are read with; their doc pages show it.
pub const EXAMPLE_CONVENTION: &str = r#"[accounts]
org = "bboq"
envs = ["dev", "test", "prod"]
alias = "{org}-{env}-{purpose}"
profile = "{env}-{purpose}-{role}"
protected_envs = ["prod"]

[accounts.ids]
"111111111111" = "bboq-prod-website"
"222222222222" = "bboq-test-website"
"#;

/// Whether a rule needs `[accounts]` to say anything.
pub fn needs_convention(code: &str) -> bool {
    matches!(code, "ACC001" | "ACC002" | "ACC003" | "ACC004" | "ACC005")
}

/// STS's bounds on `duration_seconds` for AssumeRole: 15 minutes to 12 hours (the role's
/// own maximum may be lower), and 1 hour when one role session assumes another.
const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 43_200;
const MAX_CHAINED_DURATION: u64 = 3_600;

/// One profile as the CLI sees it: its sections in `config` and `credentials` merged.
struct Profile<'a> {
    name: &'a str,
    sections: Vec<&'a AwsProfile>,
}

impl<'a> Profile<'a> {
    /// The first value of `key` with where it is written.
    fn get(&self, key: &str) -> Option<(&'a str, Site)> {
        self.sections.iter().find_map(|section| {
            section
                .settings
                .iter()
                .find(|(k, v, _)| k == key && !v.is_empty())
                .map(|(_, v, span)| (v.as_str(), section.at.at(*span)))
        })
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The profile's header in `config` if it has one there, else its first section.
    fn site(&self) -> Site {
        let section = self
            .sections
            .iter()
            .find(|s| s.source == "config")
            .unwrap_or(&self.sections[0]);
        section.at.clone()
    }

    /// The account the profile's credentials are in: its `role_arn`'s or its SSO account.
    fn account(&self) -> Option<(String, Site)> {
        if let Some((arn, site)) = self.get("role_arn") {
            let account = arn.split(':').nth(4)?;
            return airlock_accounts::convention::is_account_id(account)
                .then(|| (account.to_string(), site));
        }
        self.get("sso_account_id")
            .filter(|(id, _)| airlock_accounts::convention::is_account_id(id))
            .map(|(id, site)| (id.to_string(), site))
    }

    fn is_sso(&self) -> bool {
        self.has("sso_session") || self.has("sso_start_url")
    }
}

/// The unit's profiles by name, in file order of first appearance.
fn profiles(unit: &Unit) -> Vec<Profile<'_>> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: BTreeMap<&str, Vec<&AwsProfile>> = BTreeMap::new();
    for fact in &unit.facts {
        if let Fact::AwsProfile(profile) = fact {
            let entry = by_name.entry(profile.name.as_str()).or_default();
            if entry.is_empty() {
                order.push(profile.name.as_str());
            }
            entry.push(profile);
        }
    }
    order
        .into_iter()
        .map(|name| Profile {
            name,
            sections: by_name.remove(name).unwrap_or_default(),
        })
        .collect()
}

/// The env a profile's name gives it, by the convention.
fn labelled_env(convention: &Convention, profile: &Profile) -> Option<String> {
    convention
        .check_profile(profile.name)
        .ok()
        .map(|labels| labels.env)
}

/// The env of the profile's account by `[accounts.ids]`, with the account id.
fn account_env(convention: &Convention, profile: &Profile) -> Option<(String, String, Site)> {
    let (account, site) = profile.account()?;
    let env = convention.env_of_account(&account)?;
    Some((account, env, site))
}

/// A protected env the profile belongs to, by its name or by its account.
fn protected_env(convention: &Convention, profile: &Profile) -> Option<String> {
    labelled_env(convention, profile)
        .filter(|env| convention.is_protected(env))
        .or_else(|| {
            account_env(convention, profile)
                .map(|(_, env, _)| env)
                .filter(|env| convention.is_protected(env))
        })
}

// ---------------------------------------------------------------------------------------

pub struct ProfileName;

static ACC001: RuleMeta = RuleMeta {
    code: "ACC001",
    name: "profile-name-convention",
    severity: Severity::Low,
    practice: "Every AWS profile is named by the organisation's convention, so its name says which environment it acts on.",
    formats: &[Format::AwsConfig],
    what: "A profile (other than `default`) whose name does not follow the `profile` template of `[accounts]` in airlock.toml (`{env}-{purpose}-{role}` by default), or names an env the convention does not list.",
    why: "People pick profiles by name. When `prod` can hide in `website-admin` or `ops2`, the name no longer warns anyone that a command will act on production, and the other checks (MFA, static keys, env mismatches) cannot tell which profiles are production ones.",
    fix: "Rename the profile to follow the convention, for example `prod-website-admin`, and update scripts and `source_profile` references to it.",
    examples: &[Example {
        file: "config",
        failing: "[profile website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = dev-identity-user\nmfa_serial = arn:aws:iam::333333333333:mfa/alice\nregion = eu-west-1\n\n[profile dev-identity-user]\nregion = eu-west-1\n",
        passing: "[profile prod-website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = dev-identity-user\nmfa_serial = arn:aws:iam::333333333333:mfa/alice\nregion = eu-west-1\n\n[profile dev-identity-user]\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for ProfileName {
    fn meta(&self) -> &'static RuleMeta {
        &ACC001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let Some(convention) = unit.convention.as_deref() else {
            return;
        };
        for profile in profiles(unit) {
            if profile.name == "default" {
                continue;
            }
            if let Err(violation) = convention.check_profile(profile.name) {
                out.push(Finding::new(
                    &ACC001,
                    &profile.site(),
                    "",
                    format!("{violation}"),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct ProfileEnvMismatch;

static ACC002: RuleMeta = RuleMeta {
    code: "ACC002",
    name: "profile-env-mismatch",
    severity: Severity::High,
    practice: "A profile's name and the account it acts on agree about the environment.",
    formats: &[Format::AwsConfig],
    what: "A profile whose name says one env while its `role_arn` (or `sso_account_id`) is an account that `[accounts.ids]` in airlock.toml gives another env, such as `test-website-admin` assuming a role in the production account.",
    why: "This is exactly how destruction aimed at a test account lands in production: the profile's name is what a person checks, and it lies.",
    fix: "Point the profile at the account its name says, or rename it after the account it really uses. If `[accounts.ids]` is what is wrong, correct it (compare with `airlock accounts alias check`).",
    examples: &[Example {
        file: "config",
        failing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\ncredential_source = Environment\nregion = eu-west-1\n",
        passing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\ncredential_source = Environment\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for ProfileEnvMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &ACC002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let Some(convention) = unit.convention.as_deref() else {
            return;
        };
        for profile in profiles(unit) {
            let (Some(label), Some((account, env, site))) = (
                labelled_env(convention, &profile),
                account_env(convention, &profile),
            ) else {
                continue;
            };
            if label != env {
                let alias = convention.ids.get(&account).map_or("", String::as_str);
                out.push(Finding::new(
                    &ACC002,
                    &site,
                    &account,
                    format!(
                        "profile {} is named for {label}, but acts on account {account} ({alias}), which is {env}",
                        profile.name
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct AccountWithTwoEnvs;

static ACC003: RuleMeta = RuleMeta {
    code: "ACC003",
    name: "account-with-two-envs",
    severity: Severity::High,
    practice: "One account id belongs to one environment.",
    formats: &[Format::AwsConfig],
    what: "Two profiles that act on the same account id (in `role_arn` or `sso_account_id`) while their names say different envs.",
    why: "At least one of the two names is wrong, and whoever trusts it will act on an environment they did not mean to. Found from the files alone, without `[accounts.ids]`.",
    fix: "Find out which env the account really is (`airlock whoami --profile NAME`), then fix the account id or the name of the other profile.",
    examples: &[Example {
        file: "config",
        failing: "[profile prod-website-admin]\nrole_arn = arn:aws:iam::333333333333:role/Admin\nmfa_serial = arn:aws:iam::333333333333:mfa/alice\ncredential_source = Environment\nregion = eu-west-1\n\n[profile test-website-admin]\nrole_arn = arn:aws:iam::333333333333:role/Admin\ncredential_source = Environment\nregion = eu-west-1\n",
        passing: "[profile prod-website-admin]\nrole_arn = arn:aws:iam::333333333333:role/Admin\nmfa_serial = arn:aws:iam::333333333333:mfa/alice\ncredential_source = Environment\nregion = eu-west-1\n\n[profile test-website-admin]\nrole_arn = arn:aws:iam::444444444444:role/Admin\ncredential_source = Environment\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for AccountWithTwoEnvs {
    fn meta(&self) -> &'static RuleMeta {
        &ACC003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let Some(convention) = unit.convention.as_deref() else {
            return;
        };
        // account -> (env, the first profile that labelled it so)
        let mut first: BTreeMap<String, (String, &str)> = BTreeMap::new();
        for profile in profiles(unit) {
            let (Some(env), Some((account, site))) =
                (labelled_env(convention, &profile), profile.account())
            else {
                continue;
            };
            match first.get(&account) {
                None => {
                    first.insert(account, (env, profile.name));
                }
                Some((other_env, other)) if *other_env != env => out.push(Finding::new(
                    &ACC003,
                    &site,
                    &account,
                    format!(
                        "account {account} is {other_env} by profile {other} and {env} by profile {}",
                        profile.name
                    ),
                )),
                Some(_) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct ProtectedRoleWithoutMfa;

static ACC004: RuleMeta = RuleMeta {
    code: "ACC004",
    name: "protected-role-without-mfa",
    severity: Severity::High,
    practice: "Assuming a role in a protected environment takes a second factor.",
    formats: &[Format::AwsConfig],
    what: "A role profile (`role_arn`) for a protected env (by its name, or by its account in `[accounts.ids]`) with no `mfa_serial`. Profiles that run on machines (`credential_source`, `web_identity_token_file`) and roles assumed from an IAM Identity Center (SSO) profile, which has its own MFA, are not reported.",
    why: "Without MFA, a stolen laptop's long-lived base keys are enough to act as an administrator of production. With `mfa_serial`, the CLI asks for a code, and a trust policy with `aws:MultiFactorAuthPresent` can insist on it.",
    fix: "Add `mfa_serial = arn:aws:iam::ACCOUNT:mfa/NAME` to the profile, and require `aws:MultiFactorAuthPresent` in the role's trust policy. Better still, move people to IAM Identity Center.",
    examples: &[Example {
        file: "config",
        failing: "[profile prod-website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = dev-identity-user\nregion = eu-west-1\n\n[profile dev-identity-user]\nregion = eu-west-1\n",
        passing: "[profile prod-website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = dev-identity-user\nmfa_serial = arn:aws:iam::333333333333:mfa/alice\nregion = eu-west-1\n\n[profile dev-identity-user]\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for ProtectedRoleWithoutMfa {
    fn meta(&self) -> &'static RuleMeta {
        &ACC004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let Some(convention) = unit.convention.as_deref() else {
            return;
        };
        let all = profiles(unit);
        for profile in &all {
            let Some((_, site)) = profile.get("role_arn") else {
                continue;
            };
            if profile.has("mfa_serial")
                || profile.has("credential_source")
                || profile.has("web_identity_token_file")
            {
                continue;
            }
            let from_sso = profile
                .get("source_profile")
                .is_some_and(|(source, _)| all.iter().any(|p| p.name == source && p.is_sso()));
            if from_sso {
                continue;
            }
            if let Some(env) = protected_env(convention, profile) {
                out.push(Finding::new(
                    &ACC004,
                    &site,
                    "",
                    format!(
                        "profile {} assumes a role in protected env {env} without mfa_serial",
                        profile.name
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct ProtectedStaticKeys;

static ACC005: RuleMeta = RuleMeta {
    code: "ACC005",
    name: "protected-static-keys",
    severity: Severity::High,
    practice: "No long-lived access keys for protected environments on anyone's disk.",
    formats: &[Format::AwsConfig],
    what: "A profile for a protected env (by its name, or by its account in `[accounts.ids]`) with `aws_access_key_id` in the credentials or config file.",
    why: "An IAM user's access key never expires and needs no second factor. On a laptop or a CI runner it is one copied file away from being someone else's production access.",
    fix: "Delete the key (`aws iam delete-access-key`) and reach the environment through a role: IAM Identity Center (`sso_session`), or `role_arn` with `mfa_serial` from a base profile in a non-protected account.",
    examples: &[Example {
        file: "credentials",
        failing: "[prod-website-deployer]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-west-1\n",
        passing: "[test-website-deployer]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for ProtectedStaticKeys {
    fn meta(&self) -> &'static RuleMeta {
        &ACC005
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let Some(convention) = unit.convention.as_deref() else {
            return;
        };
        for profile in profiles(unit) {
            let Some((_, site)) = profile.get("aws_access_key_id") else {
                continue;
            };
            if let Some(env) = protected_env(convention, &profile) {
                out.push(Finding::new(
                    &ACC005,
                    &site,
                    "",
                    format!(
                        "profile {} holds a static access key for protected env {env}",
                        profile.name
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct BrokenSourceProfile;

static ACC006: RuleMeta = RuleMeta {
    code: "ACC006",
    name: "broken-source-profile",
    severity: Severity::High,
    practice: "Every profile chain ends in real credentials.",
    formats: &[Format::AwsConfig],
    what: "A `source_profile` that names no profile in the config or credentials file, profiles whose `source_profile`s form a cycle (a profile may name itself only when it holds static keys), or a profile with both `source_profile` and `credential_source`.",
    why: "The CLI and SDKs refuse such a profile only when someone uses it, usually in the middle of an incident or a release; and a profile that silently fails over to another source of credentials may act as someone else.",
    fix: "Point `source_profile` at a profile that exists and ends the chain with credentials (static keys, SSO, `credential_source`), and keep one of `source_profile` and `credential_source`.",
    examples: &[Example {
        file: "config",
        failing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = test-website-base\nregion = eu-west-1\n\n[profile test-website-base]\nrole_arn = arn:aws:iam::222222222222:role/Base\nsource_profile = test-website-admin\nregion = eu-west-1\n",
        passing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = test-website-base\nregion = eu-west-1\n\n[profile test-website-base]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Base\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for BrokenSourceProfile {
    fn meta(&self) -> &'static RuleMeta {
        &ACC006
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let all = profiles(unit);
        let by_name: BTreeMap<&str, &Profile> = all.iter().map(|p| (p.name, p)).collect();
        let mut reported_cycles: BTreeSet<Vec<&str>> = BTreeSet::new();
        for profile in &all {
            let Some((source, site)) = profile.get("source_profile") else {
                continue;
            };
            if profile.has("credential_source") {
                out.push(Finding::new(
                    &ACC006,
                    &site,
                    "both",
                    format!(
                        "profile {} has both source_profile and credential_source",
                        profile.name
                    ),
                ));
            }
            if !by_name.contains_key(source) {
                out.push(Finding::new(
                    &ACC006,
                    &site,
                    source,
                    format!(
                        "profile {} names source_profile {source}, which does not exist",
                        profile.name
                    ),
                ));
                continue;
            }
            // Follow the chain; a cycle is reported once, at its first member in file order.
            let mut chain: Vec<&str> = vec![profile.name];
            let mut current = source;
            while let Some(next) = by_name.get(current) {
                if current == chain[chain.len() - 1] && next.has("aws_access_key_id") {
                    break; // a profile naming itself to use its own keys
                }
                if let Some(start) = chain.iter().position(|&n| n == current) {
                    let mut cycle: Vec<&str> = chain[start..].to_vec();
                    let first = cycle.iter().position(|n| *n == profile.name);
                    if first.is_some() {
                        cycle.sort_unstable();
                        if reported_cycles.insert(cycle) {
                            let loop_text: Vec<&str> = chain[start..]
                                .iter()
                                .copied()
                                .chain(std::iter::once(current))
                                .collect();
                            out.push(Finding::new(
                                &ACC006,
                                &site,
                                "cycle",
                                format!("source_profile cycle: {}", loop_text.join(" -> ")),
                            ));
                        }
                    }
                    break;
                }
                chain.push(current);
                match next.get("source_profile") {
                    Some((following, _)) => current = following,
                    None => break,
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct DurationOutOfBounds;

static ACC007: RuleMeta = RuleMeta {
    code: "ACC007",
    name: "duration-out-of-bounds",
    severity: Severity::Medium,
    practice: "Role sessions ask for a duration STS grants.",
    formats: &[Format::AwsConfig],
    what: "A `duration_seconds` that is not a whole number of seconds between 900 and 43200, or above 3600 on a profile whose `source_profile` is itself a role profile (role chaining, which STS caps at one hour).",
    why: "STS refuses the AssumeRole call, so the profile fails every time it is used; and long sessions are credentials that outlive the task they were taken for.",
    fix: "Set `duration_seconds` between 900 and 3600 (up to 43200 if the role's MaxSessionDuration allows it and no role chaining is involved), or remove it to get STS's default of one hour.",
    examples: &[Example {
        file: "config",
        failing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\ncredential_source = Environment\nduration_seconds = 86400\nregion = eu-west-1\n",
        passing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\ncredential_source = Environment\nduration_seconds = 3600\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for DurationOutOfBounds {
    fn meta(&self) -> &'static RuleMeta {
        &ACC007
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let all = profiles(unit);
        for profile in &all {
            let Some((raw, site)) = profile.get("duration_seconds") else {
                continue;
            };
            let name = profile.name;
            let Ok(seconds) = raw.parse::<u64>() else {
                out.push(Finding::new(
                    &ACC007,
                    &site,
                    "",
                    format!("profile {name}: duration_seconds {raw:?} is not a number of seconds"),
                ));
                continue;
            };
            let chained = profile
                .get("source_profile")
                .filter(|(source, _)| *source != name)
                .is_some_and(|(source, _)| {
                    all.iter().any(|p| p.name == source && p.has("role_arn"))
                });
            let message = if !(MIN_DURATION..=MAX_DURATION).contains(&seconds) {
                Some(format!(
                    "profile {name}: duration_seconds {seconds} is outside STS's {MIN_DURATION} to {MAX_DURATION}"
                ))
            } else if chained && seconds > MAX_CHAINED_DURATION {
                Some(format!(
                    "profile {name}: duration_seconds {seconds} is above {MAX_CHAINED_DURATION}, STS's limit for a role assumed from another role's session"
                ))
            } else {
                None
            };
            if let Some(message) = message {
                out.push(Finding::new(&ACC007, &site, "", message));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct NoRegion;

static ACC008: RuleMeta = RuleMeta {
    code: "ACC008",
    name: "no-region",
    severity: Severity::Low,
    practice: "Every profile says which region it acts in.",
    formats: &[Format::AwsConfig],
    what: "A profile with no `region` in either the config or the credentials file. The CLI does not take a named profile's region from `[default]` or from its `source_profile`.",
    why: "Without it the region comes from whatever `AWS_REGION` the shell happens to have, so the same command creates resources in one region on one laptop and another elsewhere, and resources end up outside the region whose guardrails and logging were set up.",
    fix: "Add `region = ...` to the profile in the config file.",
    examples: &[Example {
        file: "config",
        failing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\ncredential_source = Environment\n",
        passing: "[profile test-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\ncredential_source = Environment\nregion = eu-west-1\n",
    }],
    checkov: &[],
};

impl Rule for NoRegion {
    fn meta(&self) -> &'static RuleMeta {
        &ACC008
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for profile in profiles(unit) {
            if !profile.has("region") {
                let site = profile.site();
                out.push(Finding::new(
                    &ACC008,
                    &site.at(Span::line(site.span.line)),
                    "",
                    format!("profile {} sets no region", profile.name),
                ));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use crate::{Config, ScanOptions, SourceFile, scan_sources};

    fn options() -> ScanOptions {
        ScanOptions {
            config: Config::parse(EXAMPLE_CONVENTION, "airlock.toml").unwrap(),
            inline_suppressions: true,
            ..ScanOptions::default()
        }
    }

    /// (rule, line, message) of every ACC finding, for files in one directory.
    fn findings(files: &[(&str, &str)]) -> Vec<(&'static str, u32, String)> {
        let sources: Vec<SourceFile> = files.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect();
        let result = scan_sources(&sources, &options());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
            .findings
            .into_iter()
            .filter(|f| f.rule.starts_with("ACC"))
            .map(|f| (f.rule, f.line, f.message))
            .collect()
    }

    const CONFIG: &str = "\
[default]
region = eu-west-1

[profile prod-website-admin]
role_arn = arn:aws:iam::111111111111:role/Admin
source_profile = identity
mfa_serial = arn:aws:iam::333333333333:mfa/alice
region = eu-west-1

[profile test-website-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = identity
duration_seconds = 3600
region = eu-west-1

[profile dev-website-sso]
sso_session = corp
sso_account_id = 555555555555
sso_role_name = Admin
region = eu-west-1

[profile prod-website-viasso]
role_arn = arn:aws:iam::111111111111:role/Deployer
source_profile = dev-website-sso
region = eu-west-1

[sso-session corp]
sso_region = eu-west-1
sso_start_url = https://example.awsapps.com/start
";

    const CREDENTIALS: &str = "\
[identity]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
";

    #[test]
    fn a_well_kept_pair_of_files_passes_except_the_base_profile_name_and_region() {
        let found = findings(&[
            ("home/.aws/config", CONFIG),
            ("home/.aws/credentials", CREDENTIALS),
        ]);
        // `identity` breaks the naming convention and has no region: the only two findings.
        assert_eq!(
            found,
            vec![
                (
                    "ACC001",
                    1,
                    "profile \"identity\" does not have the shape {env}-{purpose}-{role}"
                        .to_string()
                ),
                ("ACC008", 1, "profile identity sets no region".to_string()),
            ]
        );
    }

    #[test]
    fn a_config_and_credentials_pair_in_different_directories_are_separate_units() {
        let found = findings(&[
            ("a/.aws/config", CONFIG),
            ("b/.aws/credentials", CREDENTIALS),
        ]);
        assert!(
            found.iter().any(|(rule, _, m)| *rule == "ACC006"
                && m.contains("source_profile identity, which does not exist")),
            "{found:?}"
        );
    }

    #[test]
    fn each_rule_fails_on_its_mistake() {
        let config = "\
[profile staging-website-admin]
region = eu-west-1
credential_source = Environment
[profile test-website-ops]
role_arn = arn:aws:iam::111111111111:role/Ops
credential_source = Environment
region = eu-west-1
[profile prod-website-admin]
role_arn = arn:aws:iam::111111111111:role/Admin
source_profile = prod-website-admin
region = eu-west-1
[profile dev-data-a]
role_arn = arn:aws:iam::666666666666:role/A
source_profile = dev-data-b
region = eu-west-1
[profile dev-data-b]
role_arn = arn:aws:iam::666666666666:role/B
source_profile = dev-data-a
duration_seconds = 7200
region = eu-west-1
[profile dev-data-c]
role_arn = arn:aws:iam::777777777777:role/C
source_profile = dev-missing-x
credential_source = Ec2InstanceMetadata
duration_seconds = 60
[profile prod-data-c]
role_arn = arn:aws:iam::777777777777:role/C
mfa_serial = arn:aws:iam::333333333333:mfa/alice
credential_source = Environment
duration_seconds = 1h
region = eu-west-1
";
        let credentials = "[prod-website-deployer]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-west-1\n";
        let found = findings(&[(".aws/config", config), (".aws/credentials", credentials)]);
        let has = |rule: &str, line: u32, needle: &str| {
            assert!(
                found
                    .iter()
                    .any(|(r, l, m)| *r == rule && *l == line && m.contains(needle)),
                "no {rule} at line {line} containing {needle:?} in {found:#?}"
            );
        };
        has("ACC001", 1, "env \"staging\" is not one of dev, test, prod");
        has(
            "ACC002",
            5,
            "profile test-website-ops is named for test, but acts on account 111111111111 (bboq-prod-website), which is prod",
        );
        has(
            "ACC003",
            27,
            "account 777777777777 is dev by profile dev-data-c and prod by profile prod-data-c",
        );
        // A self-reference without keys is a cycle; and no mfa_serial in prod.
        has(
            "ACC006",
            10,
            "source_profile cycle: prod-website-admin -> prod-website-admin",
        );
        has(
            "ACC004",
            9,
            "profile prod-website-admin assumes a role in protected env prod without mfa_serial",
        );
        has(
            "ACC006",
            14,
            "source_profile cycle: dev-data-a -> dev-data-b -> dev-data-a",
        );
        has(
            "ACC006",
            23,
            "source_profile dev-missing-x, which does not exist",
        );
        has("ACC006", 23, "both source_profile and credential_source");
        has("ACC007", 19, "duration_seconds 7200 is above 3600");
        has(
            "ACC007",
            25,
            "duration_seconds 60 is outside STS's 900 to 43200",
        );
        has("ACC007", 30, "\"1h\" is not a number of seconds");
        has("ACC008", 21, "profile dev-data-c sets no region");
        has(
            "ACC005",
            2,
            "profile prod-website-deployer holds a static access key for protected env prod",
        );
        // The cycle of two is reported once.
        assert_eq!(
            found
                .iter()
                .filter(|(_, _, m)| m.contains("dev-data-a -> dev-data-b"))
                .count(),
            1
        );
        // Machine profiles and SSO-sourced roles need no mfa_serial.
        assert!(
            !found
                .iter()
                .any(|(r, _, m)| *r == "ACC004" && m.contains("prod-data-c"))
        );
    }

    #[test]
    fn a_profile_may_name_itself_to_use_its_own_keys() {
        let credentials = "[test-website-base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nrole_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = test-website-base\nregion = eu-west-1\n";
        assert_eq!(findings(&[(".aws/credentials", credentials)]), vec![]);
    }

    #[test]
    fn without_a_convention_only_the_chain_rules_apply() {
        let sources = [SourceFile::new(
            ".aws/config",
            "[profile ops]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = nowhere\n",
        )];
        let result = scan_sources(&sources, &ScanOptions::default());
        let rules: BTreeSet<&str> = result
            .findings
            .iter()
            .map(|f| f.rule)
            .filter(|r| r.starts_with("ACC"))
            .collect();
        assert_eq!(rules, BTreeSet::from(["ACC006", "ACC008"]));
    }
}
