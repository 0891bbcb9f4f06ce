//! `airlock accounts alias set` and `alias check`: what `[accounts.ids]` says about an
//! account's alias, decided before (or instead of) calling IAM.

use crate::convention::Convention;
use crate::identity::Placement;

/// Why `name` must not become the alias of `account`, when `[accounts.ids]` forbids it: it
/// gives `name` to another account (two accounts would answer to one name), or it names this
/// account otherwise (a rename starts in airlock.toml). The name itself has already been
/// checked against the convention.
pub fn refusal(convention: &Convention, account: &str, name: &str) -> Option<String> {
    if let Some((other, _)) = convention
        .ids
        .iter()
        .find(|(id, alias)| *alias == name && *id != account)
    {
        return Some(format!(
            "refusing: [accounts.ids] gives {name} to account {other}, and these credentials are for account {account}"
        ));
    }
    match convention.ids.get(account) {
        Some(known) if known != name => Some(format!(
            "refusing: [accounts.ids] names account {account} {known}, not {name}; change airlock.toml first if the account is to be renamed"
        )),
        _ => None,
    }
}

/// What `alias check` finds wrong with an account's alias: not in `[accounts.ids]`, or
/// disagreeing with it or with the convention. Empty when all agree.
pub fn check(placement: &Placement) -> Vec<String> {
    let account = &placement.identity.account;
    match &placement.known_as {
        None => vec![format!(
            "account {account} is not in [accounts.ids]: add \"{account}\" = \"{}\"",
            placement.identity.alias.as_deref().unwrap_or("ALIAS")
        )],
        Some(_) => placement.problems(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::identity::tests::{convention, identity};

    #[test]
    fn ids_decide_which_names_an_account_may_take() {
        // [accounts.ids]: 123456789012 is bboq-prod-website.
        let c = convention();
        assert_eq!(refusal(&c, "123456789012", "bboq-prod-website"), None);
        assert_eq!(refusal(&c, "210987654321", "bboq-test-website"), None);
        let taken = refusal(&c, "210987654321", "bboq-prod-website").unwrap();
        assert!(
            taken.contains("gives bboq-prod-website to account 123456789012"),
            "{taken}"
        );
        let renamed = refusal(&c, "123456789012", "bboq-prod-shop").unwrap();
        assert!(
            renamed.contains("names account 123456789012 bboq-prod-website, not bboq-prod-shop"),
            "{renamed}"
        );
    }

    #[test]
    fn check_wants_the_account_in_ids_and_agreeing() {
        let c = convention();
        let agrees = Placement::new(identity(Some("bboq-prod-website")), Some(&c));
        assert!(check(&agrees).is_empty());
        let unknown = Placement::new(
            Identity {
                account: "999999999999".into(),
                ..identity(Some("bboq-dev-x"))
            },
            Some(&c),
        );
        assert_eq!(
            check(&unknown),
            [
                "account 999999999999 is not in [accounts.ids]: add \"999999999999\" = \"bboq-dev-x\""
            ]
        );
        let disagrees = Placement::new(identity(Some("bboq-test-website")), Some(&c));
        assert!(
            check(&disagrees)[0].contains("says account 123456789012 is \"bboq-prod-website\"")
        );
    }
}
