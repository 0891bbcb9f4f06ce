//! Expressions evaluated where the code decides them, in a module directory's [`Scope`]:
//!
//! - `var.NAME` is the value from `*.auto.tfvars` (in name order), else `terraform.tfvars`,
//!   else the variable's `default` (for a called module: the call's argument, else the
//!   default), when that value is known;
//! - `local.NAME` is the local's expression, evaluated with the variables and other locals;
//! - `each.key`/`each.value`, `count.index`, a dynamic block's iterator and a `for`
//!   expression's variables are bound where they apply ([`super::expand`]);
//! - templates, conditionals with a known condition, `for` expressions over known
//!   collections, operators, and the functions of [`super::functions`] are computed.
//!
//! Anything else (resource and data attributes, `path.*`, unknown functions, what depends on
//! them) stays unknown, keeping its source text as the origin, so that no rule reports on it.
//! A value is taken only when Terraform would compute the same: an unknown argument makes a
//! function's result unknown, and only `try` and `coalesce` pass over an argument, when
//! Terraform would.
//!
//! Each substitution leaves a note on its line ("var.allowed_cidr defaults to 0.0.0.0/0"),
//! which the scan adds to a finding about that value.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use hcl_edit::Decorated;
use hcl_edit::expr::{
    BinaryOp, BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey, Traversal,
    TraversalOperator, UnaryOperator,
};
use hcl_edit::template::{Element, Template};

use super::TfBlock;
use super::functions::{self, as_bool, as_number, number, same, text_of};
use crate::formats::Note;
use crate::node::{Entry, Node, Span, Value};

/// The values of a module's variables, and how to say where each came from.
#[derive(Debug, Clone, Default)]
pub struct ModuleInputs {
    variables: BTreeMap<String, (Node, String)>,
    /// Locals the variables and literals decide, with the notes of what they came from. A
    /// local may be known in part (an object with a resource's id in it): only what is read
    /// of it must be known.
    locals: BTreeMap<String, (Node, Vec<String>)>,
}

/// Locals that refer to locals are evaluated in rounds; real modules chain a few deep.
const LOCAL_ROUNDS: usize = 8;

/// A `for` expression over more items than this is left unknown, so that no input makes the
/// scan slow.
pub(super) const MAX_ITEMS: usize = 4096;

/// An expression that takes more steps than this to evaluate (nested `for`s over large
/// collections) is left unknown, for the same reason.
const MAX_STEPS: u32 = 100_000;

/// A tfvars file of the module: its name, and its assignments.
pub(crate) struct TfVars<'a> {
    pub name: &'a str,
    pub values: Vec<(String, Node)>,
}

/// A module call's argument for one of the called module's variables: its value in the
/// caller's scope (unknown when the caller cannot decide it), and what to say of it.
pub(crate) struct Argument {
    pub name: String,
    pub value: Node,
    pub note: String,
}

impl ModuleInputs {
    /// From the module's blocks, its tfvars files (given in any order), and the values the
    /// user gives (`--var-file`s in order, then `--var`s), which apply to the variables the
    /// module declares.
    pub(crate) fn new<'a>(
        blocks: impl IntoIterator<Item = &'a TfBlock>,
        tfvars: &mut [TfVars<'_>],
        given: &[TfVars<'_>],
    ) -> ModuleInputs {
        let blocks: Vec<&TfBlock> = blocks.into_iter().collect();
        let (mut variables, declared) = defaults(&blocks);
        // terraform.tfvars first, then *.auto.tfvars in name order: later ones win.
        tfvars.sort_by_key(|f| (f.name != "terraform.tfvars", f.name.to_string()));
        for file in tfvars.iter().chain(given) {
            for (name, value) in &file.values {
                if is_known(value) && declared.contains(name) {
                    let note = format!("var.{name} is {} in {}", shown(value), file.name);
                    variables.insert(name.clone(), (value.clone(), note));
                }
            }
        }
        ModuleInputs::with_variables(&blocks, variables)
    }

    /// A called module's inputs: its variables take the call's arguments, else their
    /// defaults (tfvars files and the user's values are the root module's only). An argument
    /// the caller cannot decide leaves its variable unknown, whatever its default.
    pub(crate) fn called<'a>(
        blocks: impl IntoIterator<Item = &'a TfBlock>,
        arguments: Vec<Argument>,
    ) -> ModuleInputs {
        let blocks: Vec<&TfBlock> = blocks.into_iter().collect();
        let (mut variables, declared) = defaults(&blocks);
        for argument in arguments {
            if !declared.contains(&argument.name) {
                continue;
            }
            if argument.value.is_unknown() || matches!(argument.value.value, Value::Null) {
                variables.remove(&argument.name);
            } else {
                variables.insert(argument.name, (argument.value, argument.note));
            }
        }
        ModuleInputs::with_variables(&blocks, variables)
    }

    fn with_variables(
        blocks: &[&TfBlock],
        variables: BTreeMap<String, (Node, String)>,
    ) -> ModuleInputs {
        let mut inputs = ModuleInputs {
            variables,
            locals: BTreeMap::new(),
        };
        inputs.evaluate_locals(blocks);
        inputs
    }

    fn evaluate_locals(&mut self, blocks: &[&TfBlock]) {
        let mut pending: Vec<(&str, &Node)> = blocks
            .iter()
            .filter(|b| b.kind == "locals")
            .flat_map(|b| b.body.entries().iter().map(|e| (e.key.as_str(), &e.value)))
            .filter(|(name, _)| !crate::secrets::is_secret_name(name))
            .collect();
        // Fully known locals first, round after round, so that a local is not frozen in part
        // before the locals it reads are known; once no more are (or the rounds run out),
        // what is left is taken as far as it is known, in one last round.
        let mut rounds = 0;
        let mut in_part = false;
        while !pending.is_empty() {
            let mut progressed = false;
            pending.retain(|(name, node)| {
                let mut notes = Vec::new();
                let value = Scope::new(self).resolve(node, &mut notes);
                if value.is_unknown() || (!in_part && !is_known(&value)) {
                    return true;
                }
                let mut texts = vec![format!("local.{name} is {}", shown(&value))];
                for note in notes {
                    if !texts.contains(&note.text) {
                        texts.push(note.text);
                    }
                }
                self.locals.insert(name.to_string(), (value, texts));
                progressed = true;
                false
            });
            if in_part {
                break;
            }
            rounds += 1;
            in_part = !progressed || rounds >= LOCAL_ROUNDS;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.variables.is_empty() && self.locals.is_empty()
    }

    /// The tree with every unknown that the module's inputs decide replaced by its value.
    pub fn resolve(&self, node: &Node, notes: &mut Vec<Note>) -> Node {
        Scope::new(self).resolve(node, notes)
    }
}

/// The declared variables' known defaults, and the names of the variables the module
/// declares whose values may be taken (not secrets).
fn defaults(blocks: &[&TfBlock]) -> (BTreeMap<String, (Node, String)>, Vec<String>) {
    let mut variables = BTreeMap::new();
    let mut declared: Vec<String> = Vec::new();
    for block in blocks {
        if block.kind != "variable" {
            continue;
        }
        let name = block.label(0);
        if is_secret(name, &block.body) {
            continue;
        }
        declared.push(name.to_string());
        // A null default means the caller decides: a module's caller, or the root's user.
        if let Some(default) = block.body.get("default")
            && is_known(default)
            && !matches!(default.value, Value::Null)
        {
            let note = format!("var.{name} defaults to {}", shown(default));
            variables.insert(name.to_string(), (default.clone(), note));
        }
    }
    (variables, declared)
}

/// Why an expression has no value here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoValue {
    /// It depends on what the scan does not know: a resource's attribute, a variable without
    /// a value, a function or form not evaluated here.
    Unknown,
    /// Terraform would refuse it (a key a known object lacks, a type mismatch), so `try`
    /// moves on to its next argument.
    Invalid,
}

pub(super) type Evaluated = Result<Node, NoValue>;

/// A name bound where an expression is evaluated, besides `var` and `local`: `each`,
/// `count`, a dynamic block's iterator, a `for` expression's variables. `texts` say where its
/// value came from, for the notes of the values read through it.
#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub name: String,
    pub value: Node,
    pub texts: Vec<String>,
}

/// What the names mean where an expression is evaluated.
#[derive(Debug, Clone)]
pub(super) struct Scope<'a> {
    inputs: &'a ModuleInputs,
    /// Innermost last; shared, as every `for` item and block instance adds to its parent's.
    bindings: Vec<Rc<Binding>>,
    /// The steps left to the expression being evaluated, shared with the scopes made for its
    /// parts.
    steps: Rc<Cell<u32>>,
}

impl<'a> Scope<'a> {
    pub fn new(inputs: &'a ModuleInputs) -> Scope<'a> {
        Scope {
            inputs,
            bindings: Vec::new(),
            steps: Rc::new(Cell::new(MAX_STEPS)),
        }
    }

    /// This scope with more names bound (shadowing the same names of this one).
    pub fn with(&self, bindings: impl IntoIterator<Item = Binding>) -> Scope<'a> {
        let mut scope = self.clone();
        scope.bindings.extend(bindings.into_iter().map(Rc::new));
        scope
    }

    fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings
            .iter()
            .rev()
            .find(|b| b.name == name)
            .map(|b| &**b)
    }

    /// The tree with every unknown that the scope decides replaced by its value, and its
    /// `dynamic` blocks expanded where their `for_each` is known.
    pub fn resolve(&self, node: &Node, notes: &mut Vec<Note>) -> Node {
        match &node.value {
            Value::Unknown(unknown) => self
                .evaluate_text(&unknown.origin, node.span, notes)
                .unwrap_or_else(|| node.clone()),
            Value::List(items) => Node::new(
                Value::List(items.iter().map(|i| self.resolve(i, notes)).collect()),
                node.span,
            ),
            Value::Map(entries) => {
                let mut resolved = Vec::with_capacity(entries.len());
                let mut made = Vec::new();
                for entry in entries {
                    let value = if entry.key == "dynamic" {
                        let (blocks, kept) =
                            super::expand::dynamic_blocks(self, &entry.value, notes);
                        made.extend(blocks);
                        match kept {
                            Some(kept) => kept,
                            None => continue,
                        }
                    } else {
                        self.resolve(&entry.value, notes)
                    };
                    resolved.push(Entry {
                        key: entry.key.clone(),
                        key_line: entry.key_line,
                        value,
                    });
                }
                for (name, block) in made {
                    add_block(&mut resolved, name, block);
                }
                Node::new(Value::Map(resolved), node.span)
            }
            _ => node.clone(),
        }
    }

    /// An unknown's source text, parsed and evaluated. Notes are kept only if it succeeds.
    fn evaluate_text(&self, origin: &str, span: Span, notes: &mut Vec<Note>) -> Option<Node> {
        if !self.may_decide(origin) {
            return None;
        }
        let expr = hcl_edit::parser::parse_expr(origin).ok()?;
        let mut taken = Vec::new();
        self.steps.set(MAX_STEPS);
        let value = self.evaluate(&expr, span, &mut taken).ok()?;
        if value.is_unknown() {
            return None;
        }
        notes.extend(taken);
        Some(value.respanned(span))
    }

    /// Whether the scope may decide an expression: a plain reference to a resource, data
    /// source or module (`aws_vpc.main.id`), the commonest unknown, it cannot, and is not
    /// parsed.
    fn may_decide(&self, origin: &str) -> bool {
        let plain = origin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]\"*".contains(c));
        let root = origin.split(['.', '[']).next().unwrap_or(origin);
        !plain || root == "var" || root == "local" || self.binding(root).is_some()
    }

    pub(super) fn evaluate(
        &self,
        expr: &Expression,
        span: Span,
        notes: &mut Vec<Note>,
    ) -> Evaluated {
        match self.steps.get().checked_sub(1) {
            Some(left) => self.steps.set(left),
            None => return Err(NoValue::Unknown),
        }
        match expr {
            Expression::Null(_) => Ok(Node::new(Value::Null, span)),
            Expression::String(s) => Ok(Node::string(s.value().clone(), span)),
            Expression::Number(n) => Ok(Node::new(Value::Number(n.value().to_string()), span)),
            Expression::Bool(b) => Ok(Node::new(Value::Bool(*b.value()), span)),
            Expression::Parenthesis(inner) => self.evaluate(inner.inner(), span, notes),
            Expression::Array(array) => {
                let items = all(array.iter().map(|e| self.evaluate(e, span, notes)))?;
                Ok(Node::new(Value::List(items), span))
            }
            Expression::Object(object) => {
                let mut entries = Vec::new();
                for (key, value) in object.iter() {
                    let key = self.object_key(key, span, notes);
                    let value = self.evaluate(value.expr(), span, notes);
                    let (key, value) = both(key, value)?;
                    entries.retain(|e: &Entry| e.key != key);
                    entries.push(Entry {
                        key,
                        key_line: span.line,
                        value,
                    });
                }
                Ok(Node::new(Value::Map(entries), span))
            }
            Expression::StringTemplate(template) => self.template(template, span, notes),
            Expression::HeredocTemplate(heredoc) => self.template(&heredoc.template, span, notes),
            Expression::Variable(name) => match self.binding(name.value().as_str()) {
                Some(binding) => Ok(self.reached(&binding.value, &binding.texts, span, notes)),
                None => Err(NoValue::Unknown),
            },
            Expression::Traversal(traversal) => self.traversal(traversal, span, notes),
            Expression::Conditional(conditional) => {
                let condition = self.evaluate(&conditional.cond_expr, span, notes)?;
                if as_bool(&condition)? {
                    self.evaluate(&conditional.true_expr, span, notes)
                } else {
                    self.evaluate(&conditional.false_expr, span, notes)
                }
            }
            Expression::FuncCall(call) => self.call(call, span, notes),
            Expression::UnaryOp(op) => {
                let operand = known(self.evaluate(&op.expr, span, notes)?)?;
                match op.operator.value() {
                    UnaryOperator::Neg => number(-as_number(&operand)?, span),
                    UnaryOperator::Not => Ok(Node::new(Value::Bool(!as_bool(&operand)?), span)),
                }
            }
            Expression::BinaryOp(op) => self.binary(op, span, notes),
            Expression::ForExpr(for_expr) => self.for_expr(for_expr, span, notes),
        }
    }

    fn object_key(
        &self,
        key: &ObjectKey,
        span: Span,
        notes: &mut Vec<Note>,
    ) -> Result<String, NoValue> {
        match key {
            ObjectKey::Ident(ident) => Ok(ident.value().to_string()),
            // A bare name as a key is the name, not a variable.
            ObjectKey::Expression(Expression::Variable(name)) => Ok(name.value().to_string()),
            ObjectKey::Expression(expr) => text_of(&self.evaluate(expr, span, notes)?),
        }
    }

    fn template(&self, template: &Template, span: Span, notes: &mut Vec<Note>) -> Evaluated {
        let mut text = String::new();
        for element in template.iter() {
            match element {
                Element::Literal(literal) => text.push_str(literal.value()),
                Element::Interpolation(interpolation) => {
                    let part = self.evaluate(&interpolation.expr, span, notes)?;
                    text.push_str(&text_of(&part)?);
                }
                Element::Directive(_) => return Err(NoValue::Unknown),
            }
        }
        Ok(Node::string(text, span))
    }

    fn traversal(&self, traversal: &Traversal, span: Span, notes: &mut Vec<Note>) -> Evaluated {
        let operators = traversal.operators.as_slice();
        let root = match &traversal.expr {
            Expression::Variable(root) => root.value().as_str(),
            // `[...][0]`, `merge(...).key`: into a computed value.
            other => {
                let value = self.evaluate(other, span, notes)?;
                return self.follow(&value, operators, span, notes);
            }
        };
        let (value, texts, rest): (&Node, &[String], _) = match root {
            "var" | "local" => {
                let Some((first, rest)) = operators.split_first() else {
                    return Err(NoValue::Unknown);
                };
                let TraversalOperator::GetAttr(name) = first.value() else {
                    return Err(NoValue::Unknown);
                };
                let name = name.value().as_str();
                if root == "var" {
                    let (value, note) = self.inputs.variables.get(name).ok_or(NoValue::Unknown)?;
                    (value, std::slice::from_ref(note), rest)
                } else {
                    let (value, texts) = self.inputs.locals.get(name).ok_or(NoValue::Unknown)?;
                    (value, texts.as_slice(), rest)
                }
            }
            name => {
                let binding = self.binding(name).ok_or(NoValue::Unknown)?;
                (&binding.value, binding.texts.as_slice(), operators)
            }
        };
        let reached = self.follow(value, rest, span, notes)?;
        Ok(self.reached(&reached, texts, span, notes))
    }

    /// A value read from a variable, local or binding, moved to where it is used, with the
    /// notes of where it came from when it is known.
    fn reached(&self, value: &Node, texts: &[String], span: Span, notes: &mut Vec<Note>) -> Node {
        if is_known(value) {
            let shown_value = match value.items() {
                [only] => shown(only),
                _ => shown(value),
            };
            for text in texts {
                notes.push(Note {
                    line: span.line,
                    value: shown_value.clone(),
                    text: text.clone(),
                    resource: None,
                });
            }
        }
        value.clone().respanned(span)
    }

    /// Into a value by attributes, indexes and splats (`local.tags.env`, `var.cidrs[0]`,
    /// `var.rules[*].cidr`).
    fn follow(
        &self,
        mut value: &Node,
        operators: &[Decorated<TraversalOperator>],
        span: Span,
        notes: &mut Vec<Note>,
    ) -> Evaluated {
        for (at, operator) in operators.iter().enumerate() {
            if value.is_unknown() {
                return Err(NoValue::Unknown);
            }
            value = match operator.value() {
                TraversalOperator::GetAttr(key) => match &value.value {
                    Value::Map(_) => value.get(key.value().as_str()).ok_or(NoValue::Invalid)?,
                    _ => return Err(NoValue::Invalid),
                },
                TraversalOperator::Index(index) => {
                    let index = known(self.evaluate(index, span, notes)?)?;
                    index_into(value, &index)?
                }
                TraversalOperator::LegacyIndex(index) => {
                    let index = usize::try_from(*index.value()).map_err(|_| NoValue::Invalid)?;
                    value.items().get(index).ok_or(NoValue::Invalid)?
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let rest = operators.get(at + 1..).unwrap_or_default();
                    let items = match &value.value {
                        Value::Map(_) => std::slice::from_ref(value),
                        _ => value.items(),
                    };
                    let mapped = all(items
                        .iter()
                        .map(|item| self.follow(item, rest, span, notes)))?;
                    return Ok(Node::new(Value::List(mapped), span));
                }
            };
        }
        Ok(value.clone())
    }

    fn call(&self, call: &FuncCall, span: Span, notes: &mut Vec<Note>) -> Evaluated {
        if !call.name.namespace.is_empty() {
            return Err(NoValue::Unknown);
        }
        let name = call.name.name.value().as_str();
        match name {
            // The first argument Terraform can evaluate without an error. One not known
            // might fail or not: the result is not known either.
            "try" => {
                for arg in call.args.iter() {
                    let mut taken = Vec::new();
                    match self.evaluate(arg, span, &mut taken) {
                        Err(NoValue::Invalid) => continue,
                        result => {
                            notes.extend(taken);
                            return result;
                        }
                    }
                }
                Err(NoValue::Invalid)
            }
            // The first argument that is neither null nor an empty string; one not known
            // before it leaves the choice unknown.
            "coalesce" => {
                for arg in call.args.iter() {
                    let mut taken = Vec::new();
                    let value = known(self.evaluate(arg, span, &mut taken)?)?;
                    let empty = match &value.value {
                        Value::Null => true,
                        Value::String(s) => s.is_empty(),
                        _ => false,
                    };
                    if !empty {
                        notes.extend(taken);
                        return Ok(value);
                    }
                }
                Err(NoValue::Invalid)
            }
            _ => {
                let mut args = all(call.args.iter().map(|arg| self.evaluate(arg, span, notes)))?;
                // `f(list...)` passes the list's items as the arguments.
                if call.args.expand_final()
                    && let Some(last) = args.pop()
                {
                    match last.value {
                        Value::List(items) => args.extend(items),
                        Value::Unknown(_) => return Err(NoValue::Unknown),
                        _ => return Err(NoValue::Invalid),
                    }
                }
                if !args.iter().all(is_known) {
                    return Err(NoValue::Unknown);
                }
                functions::call(name, args, span)
            }
        }
    }

    fn binary(&self, op: &BinaryOp, span: Span, notes: &mut Vec<Note>) -> Evaluated {
        let lhs = self.evaluate(&op.lhs_expr, span, notes).and_then(known);
        let rhs = self.evaluate(&op.rhs_expr, span, notes).and_then(known);
        let (lhs, rhs) = both(lhs, rhs)?;
        let boolean = |b: bool| Ok(Node::new(Value::Bool(b), span));
        let numbers = || Ok::<_, NoValue>((as_number(&lhs)?, as_number(&rhs)?));
        match op.operator.value() {
            BinaryOperator::Eq => boolean(same(&lhs, &rhs)),
            BinaryOperator::NotEq => boolean(!same(&lhs, &rhs)),
            BinaryOperator::And => boolean(as_bool(&lhs)? && as_bool(&rhs)?),
            BinaryOperator::Or => boolean(as_bool(&lhs)? || as_bool(&rhs)?),
            BinaryOperator::Less => numbers().and_then(|(l, r)| boolean(l < r)),
            BinaryOperator::LessEq => numbers().and_then(|(l, r)| boolean(l <= r)),
            BinaryOperator::Greater => numbers().and_then(|(l, r)| boolean(l > r)),
            BinaryOperator::GreaterEq => numbers().and_then(|(l, r)| boolean(l >= r)),
            BinaryOperator::Plus => numbers().and_then(|(l, r)| number(l + r, span)),
            BinaryOperator::Minus => numbers().and_then(|(l, r)| number(l - r, span)),
            BinaryOperator::Mul => numbers().and_then(|(l, r)| number(l * r, span)),
            BinaryOperator::Div => numbers().and_then(|(l, r)| match r {
                0.0 => Err(NoValue::Invalid),
                _ => number(l / r, span),
            }),
            BinaryOperator::Mod => numbers().and_then(|(l, r)| match r {
                0.0 => Err(NoValue::Invalid),
                _ => number(l % r, span),
            }),
        }
    }

    /// `[for k, v in coll : expr if cond]` and `{for k, v in coll : key => value}` (with `...`
    /// grouping), over a known list or map.
    fn for_expr(&self, for_expr: &ForExpr, span: Span, notes: &mut Vec<Note>) -> Evaluated {
        let collection = self.evaluate(&for_expr.intro.collection_expr, span, notes)?;
        let pairs: Vec<(Node, &Node)> = match &collection.value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (Node::new(Value::Number(i.to_string()), span), item))
                .collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|e| (Node::string(e.key.clone(), span), &e.value))
                .collect(),
            Value::Unknown(_) => return Err(NoValue::Unknown),
            _ => return Err(NoValue::Invalid),
        };
        if pairs.len() > MAX_ITEMS {
            return Err(NoValue::Unknown);
        }
        let value_name = for_expr.intro.value_var.value().to_string();
        let key_name = for_expr
            .intro
            .key_var
            .as_ref()
            .map(|k| k.value().to_string());
        let mut list = Vec::new();
        let mut object: Vec<Entry> = Vec::new();
        for (key, value) in pairs {
            let mut bindings = vec![Binding {
                name: value_name.clone(),
                value: value.clone(),
                texts: Vec::new(),
            }];
            if let Some(key_name) = &key_name {
                bindings.push(Binding {
                    name: key_name.clone(),
                    value: key,
                    texts: Vec::new(),
                });
            }
            let scope = self.with(bindings);
            if let Some(condition) = &for_expr.cond {
                let keep = known(scope.evaluate(&condition.expr, span, notes)?)?;
                if !as_bool(&keep)? {
                    continue;
                }
            }
            let value = scope.evaluate(&for_expr.value_expr, span, notes)?;
            let Some(key_expr) = &for_expr.key_expr else {
                list.push(value);
                continue;
            };
            let key = text_of(&scope.evaluate(key_expr, span, notes)?)?;
            match object.iter_mut().find(|e| e.key == key) {
                Some(entry) if for_expr.grouping => {
                    if let Value::List(items) = &mut entry.value.value {
                        items.push(value);
                    }
                }
                // Terraform refuses two items with one key, unless grouped.
                Some(_) => return Err(NoValue::Invalid),
                None => object.push(Entry {
                    key,
                    key_line: span.line,
                    value: match for_expr.grouping {
                        true => Node::new(Value::List(vec![value]), span),
                        false => value,
                    },
                }),
            }
        }
        Ok(match for_expr.key_expr {
            Some(_) => Node::new(Value::Map(object), span),
            None => Node::new(Value::List(list), span),
        })
    }
}

/// Adds a block made by a `dynamic` block to a body, after the blocks of that name written
/// there (a list of them, as repeated blocks are).
fn add_block(entries: &mut Vec<Entry>, name: String, block: Node) {
    match entries.iter_mut().find(|e| e.key == name) {
        Some(entry) => {
            let span = entry.value.span;
            let previous = std::mem::replace(&mut entry.value, Node::new(Value::Null, span));
            let mut items = match previous.value {
                Value::List(items) => items,
                value => vec![Node::new(value, previous.span)],
            };
            items.push(block);
            entry.value = Node::new(Value::List(items), span);
        }
        None => entries.push(Entry {
            key: name,
            key_line: block.span.line,
            value: Node::new(Value::List(vec![block.clone()]), block.span),
        }),
    }
}

/// The element of a list by number, or the entry of a map by key.
fn index_into<'v>(value: &'v Node, index: &Node) -> Result<&'v Node, NoValue> {
    match &value.value {
        Value::List(items) => {
            let at = as_number(index)?;
            if at < 0.0 || at.fract() != 0.0 {
                return Err(NoValue::Invalid);
            }
            items.get(at as usize).ok_or(NoValue::Invalid)
        }
        Value::Map(_) => value.get(&text_of(index)?).ok_or(NoValue::Invalid),
        _ => Err(NoValue::Invalid),
    }
}

/// All the results, or why not: unknown if any is unknown (it might be what fails), else
/// invalid.
fn all(results: impl Iterator<Item = Evaluated>) -> Result<Vec<Node>, NoValue> {
    let mut values = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(value) => values.push(value),
            Err(NoValue::Unknown) => failure = Some(NoValue::Unknown),
            Err(NoValue::Invalid) => {
                failure.get_or_insert(NoValue::Invalid);
            }
        }
    }
    match failure {
        Some(failure) => Err(failure),
        None => Ok(values),
    }
}

fn both<A, B>(a: Result<A, NoValue>, b: Result<B, NoValue>) -> Result<(A, B), NoValue> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(NoValue::Unknown), _) | (_, Err(NoValue::Unknown)) => Err(NoValue::Unknown),
        _ => Err(NoValue::Invalid),
    }
}

/// A value with nothing unknown in it, or unknown.
fn known(node: Node) -> Evaluated {
    match is_known(&node) {
        true => Ok(node),
        false => Err(NoValue::Unknown),
    }
}

/// A secret's value is reported where it is written (SEC008 for a variable's default) and
/// never copied to where it is used, so it is neither reported twice nor quoted in a note:
/// variables marked `sensitive`, or named like a secret, are not evaluated.
fn is_secret(name: &str, body: &Node) -> bool {
    body.get("sensitive").and_then(Node::as_bool) == Some(true)
        || crate::secrets::is_secret_name(name)
}

/// Whether a value has nothing unknown in it.
pub(super) fn is_known(node: &Node) -> bool {
    match &node.value {
        Value::Unknown(_) => false,
        Value::List(items) => items.iter().all(is_known),
        Value::Map(entries) => entries.iter().all(|e| is_known(&e.value)),
        _ => true,
    }
}

/// A value as a note shows it: scalars as written, collections in short JSON-like form.
pub(super) fn shown(node: &Node) -> String {
    match &node.value {
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(_) => "{...}".into(),
        Value::Null => "null".into(),
        _ => node.scalar_text().unwrap_or_default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
pub(super) mod tests {
    use crate::{ScanOptions, SourceFile, scan_sources};

    const MAIN: &str = r#"resource "aws_security_group" "web" {
  name   = "${var.env}-web"
  vpc_id = "vpc-0123456789abcdef0"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.allowed_cidr]
  }
}
"#;

    const VARIABLES: &str = r#"variable "allowed_cidr" {
  type    = string
  default = "0.0.0.0/0"
}

variable "env" {
  default = "prod"
}
"#;

    /// (resource, message) of the NET findings of files scanned together.
    fn net(files: &[(&str, &str)]) -> Vec<(String, String)> {
        let sources: Vec<SourceFile> = files.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect();
        let result = scan_sources(&sources, &ScanOptions::default());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
            .findings
            .into_iter()
            .filter(|f| f.rule.starts_with("NET"))
            .map(|f| (f.resource, f.message))
            .collect()
    }

    #[test]
    fn a_world_open_group_reached_only_through_a_variable_default_in_another_file() {
        let found = net(&[("infra/main.tf", MAIN), ("infra/variables.tf", VARIABLES)]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.web");
        assert!(
            found[0]
                .1
                .ends_with("(var.allowed_cidr defaults to 0.0.0.0/0)"),
            "{found:#?}"
        );
        // The variables of another directory are another module's.
        assert!(net(&[("infra/main.tf", MAIN), ("other/variables.tf", VARIABLES)]).is_empty());
    }

    #[test]
    fn tfvars_override_defaults_in_terraform_order() {
        let open = "allowed_cidr = \"0.0.0.0/0\"\n";
        let closed = "allowed_cidr = \"10.0.0.0/8\"\n";
        let safe_default = VARIABLES.replace("0.0.0.0/0", "10.0.0.0/8");
        // Only through terraform.tfvars.
        let found = net(&[
            ("m/main.tf", MAIN),
            ("m/variables.tf", &safe_default),
            ("m/terraform.tfvars", open),
        ]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .1
                .ends_with("(var.allowed_cidr is 0.0.0.0/0 in terraform.tfvars)"),
            "{found:#?}"
        );
        // An override makes it safe; *.auto.tfvars wins over terraform.tfvars.
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", VARIABLES),
                ("m/terraform.tfvars", closed)
            ])
            .is_empty()
        );
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", &safe_default),
                ("m/terraform.tfvars", open),
                ("m/zz.auto.tfvars", closed),
            ])
            .is_empty()
        );
        // Other names are not read by Terraform, so not here either.
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", &safe_default),
                ("m/prod.tfvars", open)
            ])
            .is_empty()
        );
    }

    #[test]
    fn values_given_by_the_user_win_in_the_order_given() {
        use crate::formats::terraform::{var_file, var_value};
        let scan = |given: Vec<(String, Vec<(String, crate::node::Node)>)>| {
            let sources = [
                SourceFile::new("m/main.tf", MAIN),
                SourceFile::new("m/variables.tf", VARIABLES),
            ];
            let options = ScanOptions {
                parse: crate::formats::ParseOptions {
                    tf_vars: given,
                    ..Default::default()
                },
                ..ScanOptions::default()
            };
            scan_sources(&sources, &options)
                .findings
                .into_iter()
                .filter(|f| f.rule.starts_with("NET"))
                .map(|f| f.message)
                .collect::<Vec<_>>()
        };
        let safe = var_file("allowed_cidr = \"10.0.0.0/8\"\n").unwrap();
        let open = vec![("allowed_cidr".to_string(), var_value("0.0.0.0/0"))];
        assert!(scan(vec![("prod.tfvars".into(), safe.clone())]).is_empty());
        let found = scan(vec![("prod.tfvars".into(), safe), ("--var".into(), open)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].ends_with("(var.allowed_cidr is 0.0.0.0/0 in --var)"),
            "{found:?}"
        );
        // A variable the module does not declare is not taken.
        let undeclared = vec![("other".to_string(), var_value("0.0.0.0/0"))];
        assert_eq!(scan(vec![("--var".into(), undeclared)]).len(), 1);
        assert!(var_file("this is not hcl").is_err());
        assert_eq!(var_value("[\"a\"]").items().len(), 1);
        assert_eq!(var_value("plain text").as_str(), Some("plain text"));
    }

    #[test]
    fn secrets_and_null_defaults_are_not_evaluated() {
        use crate::formats::terraform::parse;
        let db = "resource \"aws_db_instance\" \"db\" {\n  password = var.db_password\n  port     = var.port\n}\n";
        let variables = "variable \"db_password\" {\n  default = \"Tr0ub4dor&3\"\n}\nvariable \"port\" {\n  default = null\n}\n";
        let sources = [
            SourceFile::new("m/main.tf", db),
            SourceFile::new("m/variables.tf", variables),
        ];
        let result = scan_sources(&sources, &ScanOptions::default());
        let rules: Vec<(&str, &str)> = result
            .findings
            .iter()
            .map(|f| (f.rule, f.file.as_str()))
            .collect();
        // SEC008 where the default is written, and no second report where it is used.
        assert!(rules.contains(&("SEC008", "m/variables.tf")), "{rules:?}");
        assert!(
            !rules.iter().any(|(_, file)| *file == "m/main.tf"),
            "{rules:?}"
        );
        let parsed = parse(&SourceFile::new("one.tf", format!("{variables}{db}")));
        assert!(
            !parsed.notes.iter().any(|n| n.text.contains("Tr0ub4dor")),
            "{:?}",
            parsed.notes
        );
        assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
    }

    #[test]
    fn locals_of_literals_and_variables_chain_and_open_objects() {
        let locals = r#"locals {
  net      = { ssh = local.anywhere }
  anywhere = var.allowed_cidr
  computed = cidrsubnet("10.0.0.0/8", 8, 1)
}
"#;
        let via = |reference: &str| {
            let main = MAIN.replace("[var.allowed_cidr]", &format!("[{reference}]"));
            net(&[
                ("m/main.tf", &main),
                ("m/variables.tf", VARIABLES),
                ("m/locals.tf", locals),
            ])
        };
        let found = via("local.net.ssh");
        assert_eq!(found.len(), 1, "{found:#?}");
        // The chain is told: the local used, and the variable it came from.
        assert!(
            found[0].1.ends_with("(local.net is {...}; local.anywhere is 0.0.0.0/0; var.allowed_cidr defaults to 0.0.0.0/0)"),
            "{found:#?}"
        );
        assert_eq!(via("local.anywhere").len(), 1);
        assert!(via("local.computed").is_empty());
        assert!(via("local.missing").is_empty());
        assert!(via("local.net.other").is_empty());
    }

    #[test]
    fn what_the_variables_do_not_decide_stays_unknown() {
        let main = MAIN.replace("[var.allowed_cidr]", "[local.office_cidr]");
        assert!(net(&[("m/main.tf", &main), ("m/variables.tf", VARIABLES)]).is_empty());
        let no_default = "variable \"allowed_cidr\" {\n  type = string\n}\n";
        assert!(net(&[("m/main.tf", MAIN), ("m/variables.tf", no_default)]).is_empty());
        let computed =
            "variable \"allowed_cidr\" {\n  default = cidrsubnet(\"0.0.0.0/0\", 0, 0)\n}\n";
        assert!(net(&[("m/main.tf", MAIN), ("m/variables.tf", computed)]).is_empty());
    }

    /// A security group's ingress block (`content` for a dynamic one) for one port.
    pub(in crate::formats::terraform) fn ingress(block: &str, port: &str, cidr: &str) -> String {
        format!(
            "  {block} {{\n    from_port   = {port}\n    to_port     = {port}\n    protocol    = \"tcp\"\n    cidr_blocks = [{cidr}]\n  }}\n"
        )
    }

    /// A group with one instance per entry of `var.rules`: SSH open to the world, HTTPS not.
    fn for_each() -> String {
        let rules = "variable \"rules\" {\n  default = {\n    ssh   = { port = 22, cidr = \"0.0.0.0/0\" }\n    https = { port = 443, cidr = \"10.0.0.0/8\" }\n  }\n}\n";
        let group = "resource \"aws_security_group\" \"web\" {\n  for_each = var.rules\n  name     = \"web-${each.key}\"\n";
        let rule = ingress("ingress", "each.value.port", "each.value.cidr");
        format!("{rules}\n{group}\n{rule}}}\n")
    }

    #[test]
    fn a_world_open_group_reached_only_through_a_for_each_map() {
        let found = net(&[("m/main.tf", &for_each())]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.web[\"ssh\"]");
        assert!(
            found[0].1.ends_with("(var.rules defaults to {...})"),
            "{found:#?}"
        );
    }

    #[test]
    fn the_for_each_map_overridden_safe_gives_no_finding() {
        let safe = "rules = {\n  ssh = { port = 22, cidr = \"10.0.0.0/8\" }\n}\n";
        assert!(net(&[("m/main.tf", &for_each()), ("m/terraform.tfvars", safe)]).is_empty());
        let sources = [SourceFile::new("m/main.tf", for_each())];
        let options = ScanOptions {
            parse: crate::formats::ParseOptions {
                tf_vars: vec![(
                    "--var".into(),
                    vec![(
                        "rules".into(),
                        crate::formats::terraform::var_value(
                            "{ssh = {port = 22, cidr = \"192.168.0.0/16\"}}",
                        ),
                    )],
                )],
                ..Default::default()
            },
            ..ScanOptions::default()
        };
        let result = scan_sources(&sources, &options);
        assert!(
            !result.findings.iter().any(|f| f.rule.starts_with("NET")),
            "{:#?}",
            result.findings
        );
        // Not known, the map is not expanded, and nothing read through `each` is known.
        let unknown = for_each().replace("for_each = var.rules", "for_each = var.missing");
        assert!(net(&[("m/main.tf", &unknown)]).is_empty());
    }

    #[test]
    fn count_makes_indexed_instances_and_zero_makes_none() {
        let counted = MAIN
            .replace(
                "  name   = \"${var.env}-web\"",
                "  count  = var.enabled ? length(var.cidrs) : 0\n  name   = \"web-${count.index}\"",
            )
            .replace("[var.allowed_cidr]", "[var.cidrs[count.index]]");
        let variables = "variable \"enabled\" {\n  default = true\n}\nvariable \"cidrs\" {\n  default = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n}\n";
        let found = net(&[("m/main.tf", &counted), ("m/variables.tf", variables)]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.web[1]");
        assert!(
            found[0]
                .1
                .ends_with("(var.cidrs defaults to [10.0.0.0/8, 0.0.0.0/0])"),
            "{found:#?}"
        );
        let disabled = "enabled = false\n";
        assert!(
            net(&[
                ("m/main.tf", &counted),
                ("m/variables.tf", variables),
                ("m/terraform.tfvars", disabled)
            ])
            .is_empty()
        );
        // A literal count of zero: the resource does not exist.
        let none = MAIN.replace("  name   = \"${var.env}-web\"", "  count = 0");
        assert!(net(&[("m/main.tf", &none)]).is_empty());
    }

    #[test]
    fn dynamic_blocks_expand_with_their_iterator() {
        let locals = "locals {\n  rules = [\n    { port = 22, cidr = \"0.0.0.0/0\" },\n    { port = 443, cidr = \"10.0.0.0/8\" },\n  ]\n}\n";
        let written = ingress("ingress", "3389", "\"10.0.0.0/8\"");
        let content =
            ingress("content", "rule.value.port", "rule.value.cidr").replace("\n  ", "\n    ");
        let main = format!(
            "{locals}\nresource \"aws_security_group\" \"dyn\" {{\n{written}\n  dynamic \"ingress\" {{\n    for_each = local.rules\n    iterator = rule\n  {content}  }}\n}}\n"
        );
        let main = main.as_str();
        let found = net(&[("m/main.tf", main)]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.dyn");
        assert!(found[0].1.contains("22"), "{found:#?}");
        // Without an iterator the block's name is the iterator.
        let named = main
            .replace("    iterator = rule\n", "")
            .replace("rule.value", "ingress.value");
        assert_eq!(net(&[("m/main.tf", &named)]).len(), 1);
        // A list of strings: each item is a value.
        let set = named
            .replace(
                "for_each = local.rules",
                "for_each = toset([\"0.0.0.0/0\"])",
            )
            .replace("ingress.value.port", "22")
            .replace("ingress.value.cidr", "ingress.value");
        assert_eq!(net(&[("m/main.tf", &set)]).len(), 1);
    }

    #[test]
    fn for_each_and_dynamic_blocks_in_json_syntax() {
        let json = r#"{
  "resource": {
    "aws_security_group": {
      "web": {
        "for_each": {"ssh": "0.0.0.0/0", "vpn": "10.0.0.0/8"},
        "dynamic": {
          "ingress": {
            "for_each": [22],
            "content": {
              "from_port": "${ingress.value}",
              "to_port": "${ingress.value}",
              "protocol": "tcp",
              "cidr_blocks": ["${each.value}"]
            }
          }
        }
      }
    }
  }
}
"#;
        let found = net(&[("m/main.tf.json", json)]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.web[\"ssh\"]");
    }

    #[test]
    fn a_local_known_in_part_gives_what_is_known() {
        let locals = "locals {\n  ssh = { cidr = var.allowed_cidr, source = aws_security_group.bastion.id }\n}\n";
        let via = |reference: &str| {
            let main = MAIN.replace("[var.allowed_cidr]", reference);
            net(&[
                ("m/main.tf", &main),
                ("m/variables.tf", VARIABLES),
                ("m/locals.tf", locals),
            ])
        };
        assert_eq!(via("[local.ssh.cidr]").len(), 1);
        // The unknown part stays unknown.
        assert!(via("[local.ssh.source]").is_empty());
        assert!(via("values(local.ssh)").is_empty());
    }
}
