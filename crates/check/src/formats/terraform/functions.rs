//! Terraform's built-in functions that decide the values the rules read: strings
//! (`format`, `join`, `replace`, `lower`, `upper`), collections (`concat`, `merge`, `lookup`,
//! `element`, `contains`, `length`, `keys`, `values`, `flatten`, `range`, `tolist`, `toset`),
//! `cidrsubnet`, and `jsonencode`/`jsondecode`. (`try` and `coalesce` choose among their
//! arguments, so the evaluator runs them.)
//!
//! Every argument given here is fully known. A call Terraform would refuse is
//! [`NoValue::Invalid`]; a form these do not compute (a regular expression in `replace`, a
//! `format` verb with flags) and any other function is [`NoValue::Unknown`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::eval::{Evaluated, NoValue};
use crate::formats::json::from_serde;
use crate::node::{Entry, Node, Span, Value};

pub(super) fn call(name: &str, args: Vec<Node>, span: Span) -> Evaluated {
    let string = |s: String| Ok(Node::string(s, span));
    let list = |items: Vec<Node>| Ok(Node::new(Value::List(items), span));
    match (name, args.as_slice()) {
        ("format", [template, rest @ ..]) => string(format(&text_of(template)?, rest)?),
        ("join", [separator, lists @ ..]) if !lists.is_empty() => {
            let separator = text_of(separator)?;
            let mut parts = Vec::new();
            for list in lists {
                for item in as_list(list)? {
                    parts.push(text_of(item)?);
                }
            }
            string(parts.join(&separator))
        }
        ("concat", lists) => {
            let mut items = Vec::new();
            for list in lists {
                items.extend(as_list(list)?.iter().cloned());
            }
            list(items)
        }
        ("merge", maps) => {
            let mut entries: Vec<Entry> = Vec::new();
            for map in maps {
                match &map.value {
                    Value::Null => {}
                    Value::Map(more) => {
                        for entry in more {
                            entries.retain(|e| e.key != entry.key);
                            entries.push(entry.clone());
                        }
                    }
                    _ => return Err(NoValue::Invalid),
                }
            }
            Ok(Node::new(Value::Map(entries), span))
        }
        ("lookup", [map, key, default @ ..]) if default.len() <= 1 => {
            if !matches!(map.value, Value::Map(_)) {
                return Err(NoValue::Invalid);
            }
            match (map.get(&text_of(key)?), default) {
                (Some(value), _) | (None, [value]) => Ok(value.clone()),
                (None, _) => Err(NoValue::Invalid),
            }
        }
        ("element", [items, index]) => {
            let items = as_list(items)?;
            let index = as_number(index)?;
            if items.is_empty() || index < 0.0 || index.fract() != 0.0 {
                return Err(NoValue::Invalid);
            }
            // Terraform wraps an index past the end around.
            items
                .get(index as usize % items.len())
                .cloned()
                .ok_or(NoValue::Invalid)
        }
        ("contains", [items, value]) => Ok(Node::new(
            Value::Bool(as_list(items)?.iter().any(|item| same(item, value))),
            span,
        )),
        ("length", [value]) => {
            let length = match &value.value {
                Value::List(items) => items.len(),
                Value::Map(entries) => entries.len(),
                Value::String(s) => s.chars().count(),
                _ => return Err(NoValue::Invalid),
            };
            number(length as f64, span)
        }
        ("keys", [map]) => list(
            as_map(map)?
                .iter()
                .map(|e| Node::string(e.key.clone(), span))
                .collect(),
        ),
        ("values", [map]) => list(as_map(map)?.iter().map(|e| e.value.clone()).collect()),
        ("flatten", [items]) => {
            let mut flat = Vec::new();
            flatten(items, &mut flat)?;
            list(flat)
        }
        ("range", bounds) => list(range(bounds, span)?),
        ("tolist", [items]) => list(as_list(items)?.to_vec()),
        ("toset", [items]) => list(as_set(as_list(items)?)),
        ("tostring", [value]) => string(text_of(value)?),
        ("replace", [text, search, replacement]) => {
            let search = text_of(search)?;
            // `/.../` is a regular expression, not evaluated here.
            if search.is_empty()
                || (search.len() > 1 && search.starts_with('/') && search.ends_with('/'))
            {
                return Err(NoValue::Unknown);
            }
            string(text_of(text)?.replace(&search, &text_of(replacement)?))
        }
        ("lower", [text]) => string(text_of(text)?.to_lowercase()),
        ("upper", [text]) => string(text_of(text)?.to_uppercase()),
        ("cidrsubnet", [prefix, newbits, netnum]) => string(cidrsubnet(
            &text_of(prefix)?,
            as_number(newbits)?,
            as_number(netnum)?,
        )?),
        ("jsonencode", [value]) => string(value.to_json().to_string()),
        ("jsondecode", [text]) => {
            match serde_json::from_str::<serde_json::Value>(&text_of(text)?) {
                Ok(json) => Ok(from_serde(&json, span).respanned(span)),
                Err(_) => Err(NoValue::Invalid),
            }
        }
        _ => Err(NoValue::Unknown),
    }
}

/// `range(limit)`, `range(start, limit)`, `range(start, limit, step)`; a range too long to be
/// worth computing is not computed.
fn range(bounds: &[Node], span: Span) -> Result<Vec<Node>, NoValue> {
    let numbers = bounds
        .iter()
        .map(as_number)
        .collect::<Result<Vec<f64>, _>>()?;
    let (start, limit, step) = match numbers.as_slice() {
        [limit] => (0.0, *limit, 1.0),
        [start, limit] => (*start, *limit, if start <= limit { 1.0 } else { -1.0 }),
        [start, limit, step] => (*start, *limit, *step),
        _ => return Err(NoValue::Invalid),
    };
    if step == 0.0 || (limit - start) * step < 0.0 {
        return Err(NoValue::Invalid);
    }
    if ((limit - start) / step).abs() > super::eval::MAX_ITEMS as f64 {
        return Err(NoValue::Unknown);
    }
    let mut items = Vec::new();
    let mut at = start;
    while (step > 0.0 && at < limit) || (step < 0.0 && at > limit) {
        items.push(number(at, span)?);
        at += step;
    }
    Ok(items)
}

/// A scalar as Terraform converts it to a string.
pub(super) fn text_of(node: &Node) -> Result<String, NoValue> {
    match &node.value {
        Value::String(s) | Value::Number(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Unknown(_) => Err(NoValue::Unknown),
        Value::Null | Value::List(_) | Value::Map(_) => Err(NoValue::Invalid),
    }
}

/// A number, or a string Terraform converts to one.
pub(super) fn as_number(node: &Node) -> Result<f64, NoValue> {
    match &node.value {
        Value::Number(s) | Value::String(s) => s.trim().parse().map_err(|_| NoValue::Invalid),
        Value::Unknown(_) => Err(NoValue::Unknown),
        _ => Err(NoValue::Invalid),
    }
}

/// A boolean, or the string `"true"`/`"false"` Terraform converts to one.
pub(super) fn as_bool(node: &Node) -> Result<bool, NoValue> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::Unknown(_) => Err(NoValue::Unknown),
        _ => Err(NoValue::Invalid),
    }
}

/// A number as a value, integers written without a fraction.
pub(super) fn number(value: f64, span: Span) -> Evaluated {
    if !value.is_finite() {
        return Err(NoValue::Invalid);
    }
    let text = if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    };
    Ok(Node::new(Value::Number(text), span))
}

/// Whether two known values are equal (`==`): the same type and the same content.
pub(super) fn same(a: &Node, b: &Node) -> bool {
    a.to_json() == b.to_json()
}

fn as_list(node: &Node) -> Result<&[Node], NoValue> {
    match &node.value {
        Value::List(items) => Ok(items),
        _ => Err(NoValue::Invalid),
    }
}

fn as_map(node: &Node) -> Result<&[Entry], NoValue> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err(NoValue::Invalid),
    }
}

/// The distinct items, strings in Terraform's set order (sorted).
pub(super) fn as_set(items: &[Node]) -> Vec<Node> {
    let mut seen = std::collections::HashSet::new();
    let mut set: Vec<Node> = Vec::new();
    for item in items {
        if seen.insert(item.to_json().to_string()) {
            set.push(item.clone());
        }
    }
    if set.iter().all(|s| matches!(s.value, Value::String(_))) {
        set.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    set
}

fn flatten(node: &Node, out: &mut Vec<Node>) -> Result<(), NoValue> {
    for item in as_list(node)? {
        match item.value {
            Value::List(_) => flatten(item, out)?,
            _ => out.push(item.clone()),
        }
    }
    Ok(())
}

/// `format`'s verbs `%s`, `%d`, `%v`, `%t`, `%q` and `%%`; any other (or one with flags or a
/// width) is not computed here.
fn format(template: &str, args: &[Node]) -> Result<String, NoValue> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or(NoValue::Invalid)?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or(NoValue::Invalid)?;
        match verb {
            's' | 'v' if !matches!(arg.value, Value::List(_) | Value::Map(_)) => {
                out.push_str(&text_of(arg)?)
            }
            'd' => {
                let n = as_number(arg)?;
                if n.fract() != 0.0 {
                    return Err(NoValue::Invalid);
                }
                out.push_str(&format!("{}", n as i64));
            }
            't' => out.push_str(&as_bool(arg)?.to_string()),
            'q' => out.push_str(&serde_json::Value::String(text_of(arg)?).to_string()),
            _ => return Err(NoValue::Unknown),
        }
    }
    // Terraform refuses arguments left over.
    match args.next() {
        Some(_) => Err(NoValue::Invalid),
        None => Ok(out),
    }
}

/// `cidrsubnet(prefix, newbits, netnum)`: the `netnum`th subnet of `prefix` with `newbits`
/// more bits of prefix, for IPv4 and IPv6.
fn cidrsubnet(prefix: &str, newbits: f64, netnum: f64) -> Result<String, NoValue> {
    let (address, length) = prefix.split_once('/').ok_or(NoValue::Invalid)?;
    let length: u32 = length.parse().map_err(|_| NoValue::Invalid)?;
    if newbits < 0.0 || netnum < 0.0 || newbits.fract() != 0.0 || netnum.fract() != 0.0 {
        return Err(NoValue::Invalid);
    }
    let (base, bits, v4) = match (address.parse::<Ipv4Addr>(), address.parse::<Ipv6Addr>()) {
        (Ok(v4), _) => (u128::from(u32::from(v4)), 32u32, true),
        (_, Ok(v6)) => (u128::from(v6), 128u32, false),
        _ => return Err(NoValue::Invalid),
    };
    let newbits = newbits as u32;
    let new_length = length
        .checked_add(newbits)
        .filter(|&l| l <= bits && length <= bits);
    let new_length = new_length.ok_or(NoValue::Invalid)?;
    let netnum = netnum as u128;
    if newbits < 128 && netnum >> newbits != 0 {
        return Err(NoValue::Invalid);
    }
    let mask = |len: u32| match len {
        0 => 0u128,
        len => (u128::MAX << (128 - len)) >> (128 - bits),
    };
    let host_bits = bits - new_length;
    let network = (base & mask(length)) | netnum.checked_shl(host_bits).unwrap_or(0);
    let network = network & mask(new_length);
    Ok(if v4 {
        let v4 = u32::try_from(network).map_err(|_| NoValue::Invalid)?;
        format!("{}/{new_length}", Ipv4Addr::from(v4))
    } else {
        format!("{}/{new_length}", Ipv6Addr::from(network))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use crate::formats::Note;
    use crate::formats::terraform::ModuleInputs;
    use crate::node::{Node, Span, Value};

    /// An expression's value in a module with `var.open = "0.0.0.0/0"`, `var.unset` unknown
    /// and `local.rules = {ssh = 22, web = 443}`: its JSON, or `None` when unknown.
    fn value(expression: &str) -> Option<String> {
        let module = crate::formats::terraform::blocks(&crate::SourceFile::new("m.tf", 
            "variable \"open\" {\n  default = \"0.0.0.0/0\"\n}\nvariable \"unset\" {}\nlocals {\n  rules = { ssh = 22, web = 443 }\n}\n",
        ), false).unwrap();
        let inputs = ModuleInputs::new(&module, &mut [], &[]);
        let node = Node::unknown(expression, Span::line(1));
        let mut notes: Vec<Note> = Vec::new();
        let resolved = inputs.resolve(&node, &mut notes);
        match resolved.value {
            Value::Unknown(_) => None,
            _ => Some(resolved.to_json().to_string()),
        }
    }

    fn is(expression: &str, expected: &str) {
        assert_eq!(value(expression).as_deref(), Some(expected), "{expression}");
    }

    fn unknown(expression: &str) {
        assert_eq!(value(expression), None, "{expression}");
    }

    #[test]
    fn conditionals_choose_by_a_known_condition() {
        is("var.open == \"0.0.0.0/0\" ? 1 : 0", "1");
        is(
            "length(var.open) > 100 ? var.unset : \"small\"",
            "\"small\"",
        );
        unknown("var.unset ? 1 : 0");
        unknown("var.open == \"x\" ? 1 : var.unset");
    }

    #[test]
    fn for_expressions_over_known_collections() {
        is(
            "[for name, port in local.rules : \"${name}:${port}\"]",
            "[\"ssh:22\",\"web:443\"]",
        );
        is(
            "{for name, port in local.rules : port => name if port > 100}",
            "{\"443\":\"web\"}",
        );
        is(
            "{for s in [\"a\", \"b\", \"a\"] : s => s...}",
            "{\"a\":[\"a\",\"a\"],\"b\":[\"b\"]}",
        );
        is("[for i, s in [\"x\"] : i]", "[0]");
        unknown("[for s in var.unset : s]");
        unknown("[for s in [1, var.unset] : s]");
    }

    #[test]
    fn format() {
        is("format(\"%s-%d\", \"web\", 3)", "\"web-3\"");
        is(
            "format(\"%q 100%%\", var.open)",
            "\"\\\"0.0.0.0/0\\\" 100%\"",
        );
        unknown("format(\"%s\", var.unset)");
        unknown("format(\"%5s\", \"x\")");
    }

    #[test]
    fn join() {
        is("join(\",\", [\"a\", \"b\"], [\"c\"])", "\"a,b,c\"");
        unknown("join(\",\", [var.unset])");
    }

    #[test]
    fn concat() {
        is(
            "concat([var.open], [\"10.0.0.0/8\"])",
            "[\"0.0.0.0/0\",\"10.0.0.0/8\"]",
        );
        unknown("concat([var.open], var.unset)");
    }

    #[test]
    fn merge() {
        is("merge({a = 1, b = 2}, {b = 3}, null)", "{\"a\":1,\"b\":3}");
        unknown("merge({a = 1}, var.unset)");
    }

    #[test]
    fn lookup() {
        is("lookup(local.rules, \"ssh\", 0)", "22");
        is("lookup(local.rules, \"db\", 5432)", "5432");
        unknown("lookup(local.rules, var.unset, 0)");
        unknown("lookup(local.rules, \"db\")");
    }

    #[test]
    fn try_takes_the_first_argument_that_does_not_fail() {
        is("try(local.rules.db, local.rules.ssh)", "22");
        is("try(var.open, \"10.0.0.0/8\")", "\"0.0.0.0/0\"");
        // An unknown might fail or not: Terraform does not pass over it, nor do we.
        unknown("try(var.unset, \"10.0.0.0/8\")");
        unknown("try(local.rules.db)");
    }

    #[test]
    fn coalesce_takes_the_first_that_is_not_null_or_empty() {
        is("coalesce(\"\", null, var.open)", "\"0.0.0.0/0\"");
        unknown("coalesce(var.unset, \"10.0.0.0/8\")");
        is("coalesce(\"10.0.0.0/8\", var.unset)", "\"10.0.0.0/8\"");
    }

    #[test]
    fn cidrsubnet() {
        is("cidrsubnet(\"10.0.0.0/16\", 8, 2)", "\"10.0.2.0/24\"");
        is("cidrsubnet(\"10.1.2.3/8\", 0, 0)", "\"10.0.0.0/8\"");
        is("cidrsubnet(\"0.0.0.0/0\", 0, 0)", "\"0.0.0.0/0\"");
        is("cidrsubnet(\"fd00::/56\", 8, 1)", "\"fd00:0:0:1::/64\"");
        unknown("cidrsubnet(\"10.0.0.0/30\", 4, 0)");
        unknown("cidrsubnet(\"10.0.0.0/16\", 1, 2)");
        unknown("cidrsubnet(var.unset, 8, 1)");
    }

    #[test]
    fn jsonencode_and_jsondecode() {
        is(
            "jsonencode({b = [1], a = \"x\"})",
            "\"{\\\"a\\\":\\\"x\\\",\\\"b\\\":[1]}\"",
        );
        is(
            "jsondecode(\"{\\\"cidr\\\": \\\"0.0.0.0/0\\\"}\").cidr",
            "\"0.0.0.0/0\"",
        );
        unknown("jsondecode(\"not json\")");
        unknown("jsonencode(var.unset)");
    }

    #[test]
    fn tolist_and_toset() {
        is("tolist([\"b\", \"a\"])", "[\"b\",\"a\"]");
        is("toset([\"b\", \"a\", \"b\"])", "[\"a\",\"b\"]");
        unknown("toset(var.unset)");
    }

    #[test]
    fn length() {
        is("length(local.rules)", "2");
        is("length([1, 2, 3])", "3");
        is("length(\"abc\")", "3");
        unknown("length(var.unset)");
    }

    #[test]
    fn element() {
        is("element([\"a\", \"b\"], 3)", "\"b\"");
        unknown("element([], 0)");
        unknown("element(var.unset, 0)");
    }

    #[test]
    fn contains() {
        is("contains([\"a\", var.open], \"0.0.0.0/0\")", "true");
        is("contains([1], \"1\")", "false");
        unknown("contains(var.unset, \"a\")");
    }

    #[test]
    fn replace() {
        is("replace(\"a-b-c\", \"-\", \".\")", "\"a.b.c\"");
        unknown("replace(\"a1\", \"/[0-9]/\", \"\")");
        unknown("replace(var.unset, \"-\", \".\")");
    }

    #[test]
    fn lower_and_upper() {
        is("lower(\"TCP\")", "\"tcp\"");
        is("upper(\"tcp\")", "\"TCP\"");
        unknown("upper(var.unset)");
    }

    #[test]
    fn other_functions_and_splats() {
        is("keys(local.rules)", "[\"ssh\",\"web\"]");
        is("values(local.rules)", "[22,443]");
        is("flatten([[1], [[2]], 3])", "[1,2,3]");
        is("[{c = \"a\"}, {c = \"b\"}][*].c", "[\"a\",\"b\"]");
        is("-local.rules.ssh + 2 * 3", "-16");
        unknown("file(\"x.json\")");
        unknown("provider::aws::arn_parse(\"x\")");
        unknown("aws_vpc.main.cidr_block");
        unknown("\"${path.module}/x\"");
        // Too much work for one expression: left unknown rather than slow.
        is(
            "length([for a in range(10) : [for b in range(10) : b]])",
            "10",
        );
        unknown("length([for a in range(1000) : [for b in range(1000) : b]])");
    }
}
