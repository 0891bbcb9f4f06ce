//! ECS task definitions as raw JSON (the RegisterTaskDefinition input and the
//! DescribeTaskDefinition output), and the shared reader that CloudFormation and Terraform
//! use for the same structure. Keys are matched ignoring case: the API spells them
//! `readonlyRootFilesystem`, CloudFormation `ReadonlyRootFilesystem`.

use crate::formats::Parsed;
use crate::model::{
    EcsContainer, EcsTaskDefinition, EnvVar, Fact, Known, Literal, LiteralContext, Node, Site,
};
use crate::rules::Format;
use crate::source::SourceFile;

/// Whether a JSON document is a task definition: `containerDefinitions` at the top, or
/// under `taskDefinition` (DescribeTaskDefinition output).
pub fn is_task_definition(doc: &Node) -> bool {
    doc.get("containerDefinitions").is_some()
        || doc
            .path(&["taskDefinition", "containerDefinitions"])
            .is_some()
}

/// A task definition file: the fact, and a literal fact for each literal environment value.
pub fn extract(file: &SourceFile, doc: &Node) -> Parsed {
    let mut out = Parsed::new(Format::EcsTaskDefinition);
    let props = doc.get("taskDefinition").unwrap_or(doc);
    let family = props
        .get_ignore_case("family")
        .and_then(Node::as_str)
        .unwrap_or_else(|| file.name());
    let at = Site::new(&file.path, family, props.span);
    let task = task_definition_from_node(at, props, None);
    out.facts.extend(environment_literals(&task));
    out.facts.push(Fact::EcsTaskDefinition(task));
    out
}

/// Literal facts for the containers' literal environment values, which is where a secret
/// passed in plain text sits.
pub fn environment_literals(task: &EcsTaskDefinition) -> Vec<Fact> {
    task.containers
        .iter()
        .flat_map(|container| {
            container.environment.iter().filter_map(|var| {
                Some(Fact::Literal(Literal {
                    at: container.at.at(var.span),
                    context: LiteralContext::EcsEnvironment,
                    name: var.name.clone(),
                    value: var.value.value()?.clone(),
                }))
            })
        })
        .collect()
}

/// Reads task-definition properties (`networkMode`, `requiresCompatibilities`,
/// `containerDefinitions`) into the model. `containers` may be given separately when a
/// format keeps them elsewhere (Terraform's `container_definitions` JSON string).
pub fn task_definition_from_node(
    at: Site,
    props: &Node,
    containers: Option<&Node>,
) -> EcsTaskDefinition {
    let fargate = Node::known(props.get_ignore_case("requiresCompatibilities"), |n| {
        Some(n.items().iter().any(|c| {
            c.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("FARGATE"))
        }))
    });
    let containers = containers
        .or_else(|| props.get_ignore_case("containerDefinitions"))
        .map(|list| {
            // A container given by an expression (`!If`, a Terraform function) is not known,
            // and must not pass for one with every setting absent.
            list.items()
                .iter()
                .filter(|c| matches!(c.value, crate::node::Value::Map(_)))
                .map(|c| container_from_node(&at, c))
                .collect()
        })
        .unwrap_or_default();
    EcsTaskDefinition {
        network_mode: Node::known_str(props.get_ignore_case("networkMode")),
        fargate,
        containers,
        at,
    }
}

fn container_from_node(task: &Site, node: &Node) -> EcsContainer {
    let name = node
        .get_ignore_case("name")
        .and_then(|n| n.as_str())
        .unwrap_or("(unnamed)")
        .to_string();
    let mut at = task.at(node.span);
    at.resource = format!("{}/{}", task.resource, name);
    let environment = node
        .get_ignore_case("environment")
        .map(|list| {
            list.items()
                .iter()
                .filter_map(|kv| {
                    let name = kv.get_ignore_case("name")?.as_str()?.to_string();
                    Some(EnvVar {
                        name,
                        value: Node::known_str(kv.get_ignore_case("value")),
                        span: kv.span,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let secrets = node
        .get_ignore_case("secrets")
        .map(|list| {
            list.items()
                .iter()
                .filter_map(|kv| Some(kv.get_ignore_case("name")?.as_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    EcsContainer {
        name,
        image: Node::known_str(node.get_ignore_case("image")),
        privileged: Node::known_bool(node.get_ignore_case("privileged")),
        readonly_root_filesystem: Node::known_bool(node.get_ignore_case("readonlyRootFilesystem")),
        user: Node::known_str(node.get_ignore_case("user")),
        log_configuration: match node.get_ignore_case("logConfiguration") {
            None => Known::Value(false),
            Some(n) if matches!(n.value, crate::node::Value::Null) => Known::Value(false),
            Some(n) if n.is_unknown() => Known::Unknown(n.describe()),
            Some(_) => Known::Value(true),
        },
        environment,
        secrets,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;
    use crate::node::Span;

    fn parse(text: &str) -> Parsed {
        let mut all = formats::parse(&SourceFile::new("deploy/taskdef.json", text));
        assert_eq!(all.len(), 1);
        let parsed = all.pop().unwrap_or_default();
        assert_eq!(parsed.format, Some(Format::EcsTaskDefinition));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed
    }

    fn task(parsed: &Parsed) -> &EcsTaskDefinition {
        match parsed.facts.iter().find_map(|f| match f {
            Fact::EcsTaskDefinition(t) => Some(t),
            _ => None,
        }) {
            Some(t) => t,
            None => panic!("no task definition in {:?}", parsed.facts),
        }
    }

    const REGISTER: &str = r#"{
  "family": "web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "containerDefinitions": [
    {
      "name": "app",
      "image": "nginx:1.25",
      "readonlyRootFilesystem": true,
      "user": "1000",
      "environment": [
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "PORT", "value": "80"}
      ],
      "secrets": [{"name": "API_KEY", "valueFrom": "arn:aws:ssm:::parameter/k"}]
    }
  ]
}"#;

    #[test]
    fn register_input_gives_the_task_and_its_literal_environment() {
        let parsed = parse(REGISTER);
        let t = task(&parsed);
        assert_eq!(t.at.resource, "web");
        assert_eq!(t.at.span, Span::new(1, 18));
        assert_eq!(t.network_mode, Known::Value("awsvpc".into()));
        assert_eq!(t.fargate, Known::Value(true));
        let app = &t.containers[0];
        assert_eq!(app.at.resource, "web/app");
        assert_eq!(app.at.span, Span::new(6, 16));
        assert_eq!(app.readonly_root_filesystem, Known::Value(true));
        assert_eq!(app.log_configuration, Known::Value(false));
        assert_eq!(app.secrets, vec!["API_KEY".to_string()]);
        let literals: Vec<(&str, &str, u32, &str)> = parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) if l.context == LiteralContext::EcsEnvironment => Some((
                    l.name.as_str(),
                    l.value.as_str(),
                    l.at.span.line,
                    l.at.resource.as_str(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            literals,
            vec![
                ("DB_PASSWORD", "hunter2", 12, "web/app"),
                ("PORT", "80", 13, "web/app")
            ]
        );
    }

    #[test]
    fn describe_output_reads_the_same_as_register_input() {
        let described = format!("{{\"taskDefinition\": {REGISTER}, \"tags\": []}}");
        let parsed = parse(&described);
        let t = task(&parsed);
        let direct = parse(REGISTER);
        assert_eq!(t.at.resource, "web");
        assert_eq!(t.containers.len(), 1);
        assert_eq!(
            t.containers[0].environment,
            task(&direct).containers[0].environment
        );
    }

    #[test]
    fn a_task_without_family_is_named_by_its_file() {
        let parsed = parse(r#"{"containerDefinitions": [{"name": "a", "image": "x"}]}"#);
        assert_eq!(task(&parsed).at.resource, "taskdef.json");
    }

    #[test]
    fn containers_given_by_an_expression_are_not_invented() {
        let props = Node::unknown("!If [A, B, C]", Span::line(3));
        let doc = Node::new(
            crate::node::Value::Map(vec![crate::node::Entry {
                key: "ContainerDefinitions".into(),
                key_line: 3,
                value: props,
            }]),
            Span::new(1, 3),
        );
        let site = Site::new(&std::sync::Arc::from("t.yaml"), "Task", Span::new(1, 3));
        assert!(
            task_definition_from_node(site, &doc, None)
                .containers
                .is_empty()
        );
    }
}
