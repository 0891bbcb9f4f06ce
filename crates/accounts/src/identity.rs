//! Who the current credentials are and which environment their account is in, and the three
//! ways `airlock whoami` shows it.

use serde::{Deserialize, Serialize};

use crate::convention::{Convention, Labels};

/// What STS GetCallerIdentity and IAM ListAccountAliases say about the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    /// An account has at most one alias.
    pub alias: Option<String>,
    /// Why the alias could not be read (iam:ListAccountAliases denied), when it could not.
    #[serde(default)]
    pub alias_error: Option<String>,
}

impl Identity {
    /// The short name of the principal: the role of an assumed-role session, the user's
    /// name, or `root`.
    pub fn principal(&self) -> String {
        let resource = self.arn.splitn(6, ':').nth(5).unwrap_or(&self.arn);
        if resource == "root" {
            return "root".into();
        }
        let mut parts = resource.split('/');
        match parts.next() {
            // assumed-role/ROLE/SESSION and federated-user/NAME: the second part.
            Some("assumed-role") | Some("federated-user") => {
                parts.next().unwrap_or(resource).to_string()
            }
            // user/path/NAME and role/path/NAME: the last part.
            Some(_) => resource.rsplit('/').next().unwrap_or(resource).to_string(),
            None => resource.to_string(),
        }
    }
}

/// How the account's alias stands against the convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasStatus {
    /// The alias follows the convention; these are its labels.
    Follows(Labels),
    /// The alias breaks the convention, for this reason.
    Breaks(String),
    /// The account has no alias.
    NoAlias,
    /// There is no `[accounts]` convention to read the alias by.
    NoConvention,
}

/// An identity placed in the convention: its env, whether that env is protected, and what
/// disagrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub identity: Identity,
    pub status: AliasStatus,
    /// The alias `[accounts.ids]` gives the account, when it gives one.
    pub known_as: Option<String>,
    /// The alias could not be read from IAM, and the one in `[accounts.ids]` stands in.
    pub alias_from_ids: bool,
}

impl Placement {
    pub fn new(mut identity: Identity, convention: Option<&Convention>) -> Placement {
        let Some(convention) = convention else {
            return Placement {
                identity,
                status: AliasStatus::NoConvention,
                known_as: None,
                alias_from_ids: false,
            };
        };
        let known_as = convention.ids.get(&identity.account).cloned();
        // A role that may not call iam:ListAccountAliases still learns its alias offline.
        let alias_from_ids =
            identity.alias.is_none() && identity.alias_error.is_some() && known_as.is_some();
        if alias_from_ids {
            identity.alias = known_as.clone();
        }
        let status = match &identity.alias {
            None => AliasStatus::NoAlias,
            Some(alias) => match convention.check_alias(alias) {
                Ok(labels) => AliasStatus::Follows(labels),
                Err(violation) => AliasStatus::Breaks(violation.0),
            },
        };
        Placement {
            identity,
            status,
            known_as,
            alias_from_ids,
        }
    }

    /// The env the alias says, when it follows the convention.
    pub fn env(&self) -> Option<&str> {
        match &self.status {
            AliasStatus::Follows(labels) => Some(&labels.env),
            _ => None,
        }
    }

    /// `[accounts.ids]` names the account with another alias than AWS does.
    pub fn ids_disagree(&self) -> bool {
        self.known_as
            .as_ref()
            .is_some_and(|known| Some(known) != self.identity.alias.as_ref())
    }

    /// Plain sentences about what is wrong, for the user to read (empty when all is well).
    pub fn problems(&self) -> Vec<String> {
        let account = &self.identity.account;
        let mut out = Vec::new();
        match &self.status {
            AliasStatus::NoAlias => match &self.identity.alias_error {
                Some(error) => out.push(format!(
                    "the alias of account {account} could not be read ({error}): allow iam:ListAccountAliases, or name the account in [accounts.ids]"
                )),
                None => out.push(format!(
                    "account {account} has no alias, so its environment cannot be told: give it one with `airlock accounts alias set NAME`"
                )),
            },
            AliasStatus::Breaks(reason) => out.push(format!(
                "the alias of account {account} breaks the convention: {reason}"
            )),
            AliasStatus::NoConvention => out.push(
                "there is no [accounts] convention in airlock.toml, so the environment is not known"
                    .to_string(),
            ),
            AliasStatus::Follows(_) => {}
        }
        if self.alias_from_ids {
            out.push(format!(
                "the alias is the one [accounts.ids] gives account {account}: IAM would not tell ({})",
                self.identity.alias_error.as_deref().unwrap_or("denied")
            ));
        }
        if self.ids_disagree()
            && let Some(known) = &self.known_as
        {
            out.push(format!(
                "[accounts.ids] in airlock.toml says account {account} is {known:?}, but its alias is {}",
                self.identity
                    .alias
                    .as_deref()
                    .map_or("not set".to_string(), |a| format!("{a:?}"))
            ));
        }
        out
    }
}

/// How `whoami` renders a placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

const RESET: &str = "\x1b[0m";
const PROTECTED: &str = "\x1b[1;97;41m";
const ORDINARY: &str = "\x1b[1;32m";
const UNKNOWN: &str = "\x1b[1;33m";

/// `Admin @ bboq-prod-website (123456789012) [PROD]`: protected envs in capitals (and in
/// white on red with colour), others as written, `[?]` when the env is not known.
pub fn render_text(placement: &Placement, convention: Option<&Convention>, style: Style) -> String {
    let identity = &placement.identity;
    let name = identity.alias.as_deref().unwrap_or("(no alias)");
    let (tag, colour) = env_tag(placement, convention);
    let tag = match style {
        Style::Plain => tag,
        Style::Color => format!("{colour}{tag}{RESET}"),
    };
    format!(
        "{} @ {name} ({}) {tag}",
        identity.principal(),
        identity.account
    )
}

/// The short form for shell prompts: `Admin@bboq-prod-website[PROD]`.
pub fn render_prompt(placement: &Placement, convention: Option<&Convention>) -> String {
    let identity = &placement.identity;
    let name = identity.alias.as_deref().unwrap_or(&identity.account);
    let (tag, _) = env_tag(placement, convention);
    format!("{}@{name}{tag}", identity.principal())
}

fn env_tag(placement: &Placement, convention: Option<&Convention>) -> (String, &'static str) {
    match (placement.env(), convention) {
        (Some(env), Some(c)) if c.is_protected(env) => {
            (format!("[{}]", env.to_ascii_uppercase()), PROTECTED)
        }
        (Some(env), _) => (format!("[{env}]"), ORDINARY),
        (None, _) => ("[?]".to_string(), UNKNOWN),
    }
}

/// The JSON form: one object with every field, `null` where there is nothing.
#[derive(Debug, Serialize)]
pub struct JsonView<'a> {
    pub account: &'a str,
    pub alias: Option<&'a str>,
    pub arn: &'a str,
    pub user_id: &'a str,
    pub principal: String,
    pub env: Option<&'a str>,
    pub protected: bool,
    /// `follows`, `breaks`, `no-alias` or `no-convention`.
    pub convention: &'static str,
    pub known_as: Option<&'a str>,
    pub problems: Vec<String>,
}

pub fn render_json(placement: &Placement, convention: Option<&Convention>) -> String {
    let identity = &placement.identity;
    let env = placement.env();
    let view = JsonView {
        account: &identity.account,
        alias: identity.alias.as_deref(),
        arn: &identity.arn,
        user_id: &identity.user_id,
        principal: identity.principal(),
        env,
        protected: env.is_some_and(|e| convention.is_some_and(|c| c.is_protected(e))),
        convention: match placement.status {
            AliasStatus::Follows(_) => "follows",
            AliasStatus::Breaks(_) => "breaks",
            AliasStatus::NoAlias => "no-alias",
            AliasStatus::NoConvention => "no-convention",
        },
        known_as: placement.known_as.as_deref(),
        problems: placement.problems(),
    };
    // Serialising a struct of strings and booleans cannot fail.
    serde_json::to_string_pretty(&view).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
pub(crate) mod tests {
    use super::*;

    pub(crate) fn convention() -> Convention {
        Convention::from_toml(
            "[accounts]\norg = \"bboq\"\nenvs = [\"dev\", \"test\", \"prod\"]\n[accounts.ids]\n\"123456789012\" = \"bboq-prod-website\"\n",
            "airlock.toml",
        )
        .unwrap()
        .unwrap()
    }

    pub(crate) fn identity(alias: Option<&str>) -> Identity {
        Identity {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice".into(),
            user_id: "AROAEXAMPLEEXAMPLE:alice".into(),
            alias: alias.map(str::to_string),
            alias_error: None,
        }
    }

    #[test]
    fn principals_are_named_as_people_say_them() {
        let of = |arn: &str| {
            Identity {
                arn: arn.into(),
                ..identity(None)
            }
            .principal()
        };
        assert_eq!(
            of("arn:aws:sts::123456789012:assumed-role/Admin/alice"),
            "Admin"
        );
        assert_eq!(of("arn:aws:iam::123456789012:user/ops/bob"), "bob");
        assert_eq!(of("arn:aws:iam::123456789012:root"), "root");
        assert_eq!(
            of("arn:aws:sts::123456789012:federated-user/carol"),
            "carol"
        );
        assert_eq!(of("not-an-arn"), "not-an-arn");
    }

    #[test]
    fn text_json_and_prompt_forms() {
        let c = convention();
        let prod = Placement::new(identity(Some("bboq-prod-website")), Some(&c));
        assert_eq!(
            render_text(&prod, Some(&c), Style::Plain),
            "Admin @ bboq-prod-website (123456789012) [PROD]"
        );
        assert_eq!(
            render_text(&prod, Some(&c), Style::Color),
            "Admin @ bboq-prod-website (123456789012) \x1b[1;97;41m[PROD]\x1b[0m"
        );
        assert_eq!(
            render_prompt(&prod, Some(&c)),
            "Admin@bboq-prod-website[PROD]"
        );
        assert!(prod.problems().is_empty());
        let json: serde_json::Value = serde_json::from_str(&render_json(&prod, Some(&c))).unwrap();
        assert_eq!(json["env"], "prod");
        assert_eq!(json["protected"], true);
        assert_eq!(json["convention"], "follows");
        assert_eq!(json["principal"], "Admin");

        let test = Placement::new(
            Identity {
                account: "210987654321".into(),
                ..identity(Some("bboq-test-website"))
            },
            Some(&c),
        );
        assert_eq!(
            render_text(&test, Some(&c), Style::Plain),
            "Admin @ bboq-test-website (210987654321) [test]"
        );
    }

    #[test]
    fn no_alias_a_broken_alias_and_disagreeing_ids_are_said_plainly() {
        let c = convention();
        let none = Placement::new(identity(None), Some(&c));
        assert_eq!(
            render_text(&none, Some(&c), Style::Plain),
            "Admin @ (no alias) (123456789012) [?]"
        );
        assert_eq!(render_prompt(&none, Some(&c)), "Admin@123456789012[?]");
        let problems = none.problems();
        assert!(problems[0].contains("has no alias"), "{problems:?}");
        assert!(
            problems[1].contains(
                "says account 123456789012 is \"bboq-prod-website\", but its alias is not set"
            ),
            "{problems:?}"
        );

        let broken = Placement::new(identity(Some("website")), Some(&c));
        assert_eq!(broken.env(), None);
        assert!(broken.problems()[0].contains("breaks the convention"));
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&broken, Some(&c))).unwrap();
        assert_eq!(json["convention"], "breaks");
        assert_eq!(json["env"], serde_json::Value::Null);

        // ListAccountAliases denied: [accounts.ids] stands in, and says so.
        let denied = Identity {
            alias_error: Some("iam:ListAccountAliases failed: AccessDenied".into()),
            ..identity(None)
        };
        let offline = Placement::new(denied.clone(), Some(&c));
        assert!(offline.alias_from_ids);
        assert_eq!(offline.env(), Some("prod"));
        let elsewhere = Placement::new(
            Identity {
                account: "999999999999".into(),
                ..denied
            },
            Some(&c),
        );
        assert_eq!(elsewhere.env(), None);
        assert!(
            elsewhere.problems()[0].contains("could not be read"),
            "{:?}",
            elsewhere.problems()
        );

        let unconfigured = Placement::new(identity(Some("bboq-prod-website")), None);
        assert_eq!(
            render_text(&unconfigured, None, Style::Plain),
            "Admin @ bboq-prod-website (123456789012) [?]"
        );
    }
}
