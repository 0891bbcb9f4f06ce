//! Local module calls: `module "sg" { source = "./modules/sg" ... }` instantiates the called
//! directory with its variables set to the call's arguments, evaluated in the caller's scope
//! (and its instance of the call's own `for_each` or `count`).
//!
//! What a user is told:
//!
//! - a resource reached through a call is reported as Terraform addresses it
//!   (`module.sg.aws_security_group.this`), with the calls that lead to it (`through module
//!   "sg" at main.tf:12`), and the rules judge it with the root module and its other
//!   instances, as one configuration (a flow log made by one module for another's VPC);
//! - a directory that another scanned directory calls is a module, not a root: on its own it
//!   gives only what does not depend on a call (its variables, providers, locals), so that
//!   its defaults do not report what every call overrides. A directory no scanned directory
//!   calls is a root, evaluated with its defaults, tfvars files and the user's values;
//! - a call of a registry or remote module (anything not starting with `./` or `../`), of a
//!   directory that was not scanned, or one that nests deeper than [`MAX_DEPTH`] or calls
//!   itself, is not evaluated, which a notice says once per call.

use std::collections::{BTreeMap, BTreeSet};

use super::TfBlock;
use super::eval::{Argument, ModuleInputs, Scope, TfVars, shown};
use super::expand;
use crate::finding::ScanError;
use crate::formats::Note;
use crate::node::Node;
use crate::source::SourceFile;

/// Calls nest at most this deep; real code nests two or three.
pub(crate) const MAX_DEPTH: usize = 8;

/// At most this many module instances in a scan, so that nested `for_each`es over large
/// collections cannot make it slow.
const MAX_INSTANCES: usize = 1024;

/// The arguments of a module block that are Terraform's, not the module's variables.
const META_ARGUMENTS: [&str; 6] = [
    "source",
    "version",
    "providers",
    "count",
    "for_each",
    "depends_on",
];

/// A file of a module directory: its index in the scan, and its blocks.
pub(crate) type ModuleFile<'a> = (usize, &'a SourceFile, &'a [TfBlock]);

/// The Terraform module directories of a scan, by their normalised paths.
#[derive(Default)]
pub(crate) struct Directories<'a> {
    dirs: BTreeMap<String, Directory<'a>>,
}

#[derive(Default)]
struct Directory<'a> {
    files: Vec<ModuleFile<'a>>,
    tfvars: Vec<TfVars<'a>>,
}

/// A module directory as one call (and one instance of its `for_each`/`count`) makes it.
#[derive(Debug)]
pub(crate) struct ModuleInstance {
    pub dir: String,
    pub inputs: ModuleInputs,
    /// The instance's address (`module.sg`, `module.a.module.b["k"]`).
    pub address: String,
    /// The calls that lead to it, outermost first: `module "sg" at main.tf:12`.
    pub calls: Vec<String>,
    /// The file of the outermost call, as the scan names it, and relative to the instance's
    /// directory.
    pub root_file: String,
    pub root: String,
}

/// What a scan evaluates of its Terraform directories.
#[derive(Default)]
pub(crate) struct Plan {
    /// Each directory's inputs as a root, and whether it is a called module (which on its
    /// own gives only its declarations).
    pub roots: BTreeMap<String, (ModuleInputs, bool)>,
    pub instances: Vec<ModuleInstance>,
    /// The calls that were not evaluated, by the index of the calling file.
    pub notices: Vec<(usize, ScanError)>,
}

impl<'a> Directories<'a> {
    pub fn add_file(&mut self, index: usize, file: &'a SourceFile, blocks: &'a [TfBlock]) {
        let dir = self.dirs.entry(directory(&file.path)).or_default();
        dir.files.push((index, file, blocks));
    }

    /// A tfvars file, for the module beside it (tfvars without Terraform beside them belong
    /// to no module we read).
    pub fn add_tfvars(&mut self, file: &SourceFile, vars: TfVars<'a>) {
        if let Some(dir) = self.dirs.get_mut(&directory(&file.path)) {
            dir.tfvars.push(vars);
        }
    }

    pub fn files(&self, dir: &str) -> &[ModuleFile<'a>] {
        self.dirs
            .get(dir)
            .map(|d| d.files.as_slice())
            .unwrap_or_default()
    }

    fn blocks(&self, dir: &str) -> impl Iterator<Item = &'a TfBlock> + '_ {
        self.files(dir)
            .iter()
            .flat_map(|(_, _, blocks)| blocks.iter())
    }

    /// Each directory's root inputs, and the module instances the roots' calls make.
    pub fn plan(&mut self, given: &[TfVars<'_>]) -> Plan {
        let mut plan = Plan::default();
        let mut roots = BTreeMap::new();
        for (key, dir) in &mut self.dirs {
            let blocks = dir.files.iter().flat_map(|(_, _, blocks)| blocks.iter());
            roots.insert(
                key.clone(),
                ModuleInputs::new(blocks, &mut dir.tfvars, given),
            );
        }
        // Called: the target of another directory's local call. Directories called only
        // from a cycle among themselves are reached from no root: they are roots too.
        let edges = self.call_edges();
        let called: BTreeSet<&str> = edges
            .iter()
            .filter(|(from, to)| from != to)
            .map(|(_, to)| to.as_str())
            .collect();
        let mut reachable: BTreeSet<&str> = BTreeSet::new();
        let mut frontier: Vec<&str> = self
            .dirs
            .keys()
            .map(String::as_str)
            .filter(|dir| !called.contains(dir))
            .collect();
        while let Some(dir) = frontier.pop() {
            for (from, to) in &edges {
                if from == dir && reachable.insert(to.as_str()) {
                    frontier.push(to);
                }
            }
        }
        for (key, inputs) in &roots {
            let only_called = called.contains(key.as_str()) && reachable.contains(key.as_str());
            if !only_called {
                self.walk(
                    key,
                    inputs,
                    "",
                    &[],
                    None,
                    &mut vec![key.clone()],
                    &mut plan,
                );
            }
        }
        plan.roots = roots
            .into_iter()
            .map(|(key, inputs)| {
                let only_called = called.contains(key.as_str()) && reachable.contains(key.as_str());
                (key, (inputs, only_called))
            })
            .collect();
        plan
    }

    /// (caller, callee) of every local call whose directory was scanned.
    fn call_edges(&self) -> Vec<(String, String)> {
        let mut edges = Vec::new();
        for key in self.dirs.keys() {
            for block in self.blocks(key).filter(|b| b.kind == "module") {
                if let Some(target) = block
                    .body
                    .get("source")
                    .and_then(Node::as_str)
                    .and_then(|source| local_target(key, source))
                    .filter(|target| self.dirs.contains_key(target))
                {
                    edges.push((key.clone(), target));
                }
            }
        }
        edges
    }

    /// The instances of the calls of directory `dir`, evaluated with its `inputs`, and of
    /// their calls in turn. `stack` holds the directories being instantiated.
    #[allow(clippy::too_many_arguments)] // one call's context, passed down its nesting
    fn walk(
        &self,
        dir: &str,
        inputs: &ModuleInputs,
        address: &str,
        calls: &[String],
        root: Option<&str>,
        stack: &mut Vec<String>,
        plan: &mut Plan,
    ) {
        for &(index, file, blocks) in self.files(dir) {
            let root = root.unwrap_or(&file.path);
            for block in blocks.iter().filter(|b| b.kind == "module") {
                let name = block.label(0);
                let notice = |message: String| {
                    (
                        index,
                        ScanError {
                            file: file.path.to_string(),
                            line: block.span.line,
                            message,
                        },
                    )
                };
                // Terraform requires a literal source.
                let Some(source) = block.body.get("source").and_then(Node::as_str) else {
                    continue;
                };
                let Some(target) = local_target(dir, source) else {
                    plan.notices.push(notice(format!(
                        "module \"{name}\" is not evaluated: its source {source} is not a local directory (./ or ../), and airlock fetches no modules"
                    )));
                    continue;
                };
                let reason = if !self.dirs.contains_key(&target) {
                    Some(format!(
                        "{source} holds no Terraform files that were scanned"
                    ))
                } else if stack.contains(&target) {
                    Some("it calls a module that calls it".to_string())
                } else if stack.len() > MAX_DEPTH {
                    Some(format!("module calls nest deeper than {MAX_DEPTH}"))
                } else if plan.instances.len() >= MAX_INSTANCES {
                    Some(format!(
                        "the scan has {MAX_INSTANCES} module instances already"
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    plan.notices.push(notice(format!(
                        "module \"{name}\" is not evaluated: {reason}"
                    )));
                    continue;
                }
                let scope = Scope::new(inputs);
                for instance in expand::instances(&block.body, &scope) {
                    let scope = scope.with(instance.binding);
                    let arguments = block
                        .body
                        .entries()
                        .iter()
                        .filter(|e| !META_ARGUMENTS.contains(&e.key.as_str()))
                        .map(|e| {
                            let mut notes = Vec::new();
                            let value = scope.resolve(&e.value, &mut notes);
                            Argument {
                                note: argument_note(&e.key, &value, notes),
                                name: e.key.clone(),
                                value,
                            }
                        })
                        .collect();
                    let inputs = ModuleInputs::called(self.blocks(&target), arguments);
                    let address = format!("{address}module.{name}{}", instance.key);
                    let mut calls = calls.to_vec();
                    calls.push(format!(
                        "module \"{name}\" at {}:{}",
                        file.path, block.span.line
                    ));
                    stack.push(target.clone());
                    let prefix = format!("{address}.");
                    self.walk(&target, &inputs, &prefix, &calls, Some(root), stack, plan);
                    stack.pop();
                    plan.instances.push(ModuleInstance {
                        root_file: root.to_string(),
                        root: relative(&target, root),
                        dir: target.clone(),
                        inputs,
                        address,
                        calls,
                    });
                }
            }
        }
    }
}

/// What a finding says of a variable set by a call: its value, and where the caller took it
/// from.
fn argument_note(name: &str, value: &Node, notes: Vec<Note>) -> String {
    let mut from: Vec<String> = Vec::new();
    for note in notes {
        if !from.contains(&note.text) {
            from.push(note.text);
        }
    }
    let note = format!("var.{name} is {} in the module call", shown(value));
    match from.is_empty() {
        true => note,
        false => format!("{note}, where {}", from.join(", ")),
    }
}

/// The directory a local source names, relative to the calling directory; `None` for a
/// registry or remote source.
fn local_target(dir: &str, source: &str) -> Option<String> {
    let local = source.starts_with("./") || source.starts_with("../");
    local.then(|| normalise(&format!("{dir}/{source}")))
}

/// The path of `path` relative to directory `dir` (both as the scan names them).
fn relative(dir: &str, path: &str) -> String {
    let path = normalise(path);
    let from: Vec<&str> = dir.split('/').filter(|p| *p != ".").collect();
    let to: Vec<&str> = path.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let up = from.len() - common;
    let mut parts: Vec<&str> = vec![".."; up];
    parts.extend(to.get(common..).unwrap_or_default());
    parts.join("/")
}

/// The directory of a file, normalised.
pub(crate) fn directory(path: &str) -> String {
    normalise(path.rsplit_once('/').map(|(d, _)| d).unwrap_or("."))
}

/// A path with `.` and `..` parts resolved (as far as it goes up), so that `./a/../b` and `b`
/// name one directory.
fn normalise(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::{local_target, normalise, relative};
    use crate::{ScanOptions, ScanResult, SourceFile, scan_sources};

    /// A group open to `var.allowed_cidr` on port 22.
    fn group() -> String {
        let rule = super::super::eval::tests::ingress("ingress", "22", "var.allowed_cidr");
        format!("resource \"aws_security_group\" \"this\" {{\n  name = \"admin\"\n\n{rule}}}\n")
    }

    /// The NET findings of a root `main.tf` calling `modules/sg`, whose variable defaults to
    /// `default`.
    fn through_module(main: &str, default: &str) -> Vec<(String, String, String)> {
        let variables = module_variables(default);
        net(&scan(&[
            ("main.tf", main),
            ("modules/sg/main.tf", &group()),
            ("modules/sg/variables.tf", &variables),
        ]))
    }

    fn module_variables(default: &str) -> String {
        format!("variable \"allowed_cidr\" {{\n  default = \"{default}\"\n}}\n")
    }

    /// A root calling `./modules/sg` with `call` as the module block's body.
    fn root(call: &str) -> String {
        format!(
            "variable \"admin_cidr\" {{\n  default = \"0.0.0.0/0\"\n}}\n\nmodule \"sg\" {{\n  source = \"./modules/sg\"\n{call}}}\n"
        )
    }

    fn scan(files: &[(&str, &str)]) -> ScanResult {
        let sources: Vec<SourceFile> = files.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect();
        let result = scan_sources(&sources, &ScanOptions::default());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
    }

    /// (file, resource, message) of the NET findings.
    fn net(result: &ScanResult) -> Vec<(String, String, String)> {
        result
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("NET"))
            .map(|f| (f.file.clone(), f.resource.clone(), f.message.clone()))
            .collect()
    }

    #[test]
    fn a_world_open_group_reached_through_a_module_argument() {
        let found = through_module(&root("  allowed_cidr = var.admin_cidr\n"), "10.0.0.0/8");
        assert_eq!(found.len(), 1, "{found:#?}");
        let (file, resource, message) = &found[0];
        assert_eq!(file, "modules/sg/main.tf");
        assert_eq!(resource, "module.sg.aws_security_group.this");
        assert!(
            message.ends_with("(var.allowed_cidr is 0.0.0.0/0 in the module call, where var.admin_cidr defaults to 0.0.0.0/0) (through module \"sg\" at main.tf:5)"),
            "{message}"
        );
    }

    #[test]
    fn a_module_argument_that_makes_the_group_safe() {
        // The module's default is world-open, but the only call narrows it: a called
        // directory is not also reported as a root with its defaults.
        let main = root("  allowed_cidr = \"10.0.0.0/8\"\n");
        assert!(through_module(&main, "0.0.0.0/0").is_empty());
        let (group, variables) = (group(), module_variables("0.0.0.0/0"));
        let files = [
            ("main.tf", main.as_str()),
            ("modules/sg/main.tf", &group),
            ("modules/sg/variables.tf", &variables),
        ];
        // Scanned on its own, the module is a root, with its defaults.
        let alone = net(&scan(&files[1..]));
        assert_eq!(alone.len(), 1, "{alone:#?}");
        assert_eq!(alone[0].1, "aws_security_group.this");
        // An argument the caller cannot decide overrides the default all the same.
        let unknown = root("  allowed_cidr = aws_vpc.main.cidr_block\n");
        let files = [("main.tf", unknown.as_str()), files[1], files[2]];
        assert!(net(&scan(&files)).is_empty());
    }

    #[test]
    fn calls_with_for_each_and_count_and_nested_calls() {
        let main = root(
            "  for_each     = { a = \"0.0.0.0/0\", b = \"10.0.0.0/8\" }\n  allowed_cidr = each.value\n",
        );
        let found = through_module(&main, "10.0.0.0/8");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].1, "module.sg[\"a\"].aws_security_group.this");
        let disabled = root("  count        = 0\n  allowed_cidr = var.admin_cidr\n");
        assert!(through_module(&disabled, "0.0.0.0/0").is_empty());
        // env/prod calls ../../modules/wrapper, which calls ../sg.
        let wrapper = "variable \"cidr\" {}\nmodule \"inner\" {\n  source       = \"../sg\"\n  allowed_cidr = var.cidr\n}\n";
        let prod = "module \"outer\" {\n  source = \"../../modules/wrapper\"\n  cidr   = \"0.0.0.0/0\"\n}\n";
        let (group, variables) = (group(), module_variables("10.0.0.0/8"));
        let found = net(&scan(&[
            ("env/prod/main.tf", prod),
            ("modules/wrapper/main.tf", wrapper),
            ("modules/sg/main.tf", &group),
            ("modules/sg/variables.tf", &variables),
        ]));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].1,
            "module.outer.module.inner.aws_security_group.this"
        );
        assert!(
            found[0].2.ends_with("(through module \"outer\" at env/prod/main.tf:1, then module \"inner\" at modules/wrapper/main.tf:2)"),
            "{}",
            found[0].2
        );
    }

    #[test]
    fn remote_and_recursive_calls_are_told_not_evaluated() {
        let remote = "module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\nmodule \"git\" {\n  source = \"git::https://example.com/m.git\"\n}\n";
        let result = scan(&[("main.tf", remote)]);
        let notices: Vec<String> = result.notices.iter().map(ToString::to_string).collect();
        assert_eq!(notices.len(), 2, "{notices:#?}");
        assert!(notices[0].starts_with("main.tf:1: module \"vpc\" is not evaluated: its source terraform-aws-modules/vpc/aws is not a local directory"), "{notices:#?}");
        // A module calling itself, and two calling each other: each call told once, and
        // their resources still reported (they are roots, no other directory calls them).
        let itself = format!(
            "module \"again\" {{\n  source = \"./\"\n}}\n{}{}",
            group(),
            module_variables("0.0.0.0/0")
        );
        let result = scan(&[("loop/main.tf", &itself)]);
        assert_eq!(net(&result).len(), 1, "{:#?}", result.findings);
        assert_eq!(result.notices.len(), 1, "{:#?}", result.notices);
        assert!(
            result.notices[0]
                .message
                .ends_with("it calls a module that calls it")
        );
        let a = "module \"b\" {\n  source = \"../b\"\n}\n";
        let b = "module \"a\" {\n  source = \"../a\"\n}\n";
        let result = scan(&[("a/main.tf", a), ("b/main.tf", b)]);
        assert!(result.notices.len() >= 2, "{:#?}", result.notices);
    }

    #[test]
    fn local_sources_name_directories() {
        assert_eq!(normalise("./a/../b/./c"), "b/c");
        assert_eq!(normalise("."), ".");
        assert_eq!(normalise("../x"), "../x");
        assert_eq!(normalise("/r/a/../../.."), "/");
        assert_eq!(
            local_target(".", "./modules/sg").as_deref(),
            Some("modules/sg")
        );
        assert_eq!(
            local_target("env/prod", "../../modules/sg").as_deref(),
            Some("modules/sg")
        );
        assert_eq!(local_target("x", "terraform-aws-modules/vpc/aws"), None);
        assert_eq!(relative("modules/sg", "main.tf"), "../../main.tf");
        assert_eq!(
            relative(".", "examples/simple/main.tf"),
            "examples/simple/main.tf"
        );
        assert_eq!(
            relative("/r/modules/sg", "/r/env/main.tf"),
            "../../env/main.tf"
        );
        assert_eq!(local_target("x", "git::https://example.com/m.git"), None);
    }

    #[test]
    fn module_instances_are_judged_by_their_own_addresses() {
        let net = "variable \"logged\" {}\nresource \"aws_vpc\" \"this\" {\n  cidr_block = \"10.0.0.0/16\"\n}\nresource \"aws_flow_log\" \"this\" {\n  count  = var.logged ? 1 : 0\n  vpc_id = aws_vpc.this.id\n}\n";
        let main = "module \"a\" {\n  source = \"./modules/net\"\n  logged = true\n}\nmodule \"b\" {\n  source = \"./modules/net\"\n  logged = false\n}\n";
        let result = scan(&[("main.tf", main), ("modules/net/main.tf", net)]);
        let log002: Vec<&str> = result
            .findings
            .iter()
            .filter(|f| f.rule == "LOG002")
            .map(|f| f.resource.as_str())
            .collect();
        // a's flow log is for a's VPC, not for b's of the same name.
        assert_eq!(
            log002,
            vec!["module.b.aws_vpc.this"],
            "{:#?}",
            result.findings
        );
    }
}
