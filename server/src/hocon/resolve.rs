//! The node tree to JSON, substitutions looked up in the final tree (and,
//! for the server's own file, in the environment), within limits.

use super::*;

pub(super) struct Resolver<'a> {
    pub(super) root: &'a Node,
    /// Where substitutions not in the document are looked up; `None` for
    /// text from clients, which must not see the server's environment.
    pub(super) env: Option<&'a Environment<'a>>,
    /// Substitution results by path, so each is resolved once.
    pub(super) cache: HashMap<Vec<String>, Option<Value>>,
    /// Nodes that substitutions led to and that are still being resolved.
    pub(super) active: HashSet<*const Node>,
    /// The substitutions being resolved, for the message about a cycle.
    pub(super) chain: Vec<String>,
    pub(super) depth: usize,
    /// Work left before giving up on an exploding config.
    pub(super) budget: usize,
    /// Where to report problems found deep inside a substitution.
    pub(super) anchor: Pos,
}

impl Resolver<'_> {
    /// The value of a node; `None` when it is undefined (an unset `${?x}`).
    pub(super) fn resolve(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        self.enter()?;
        let result = self.resolve_inner(node);
        self.depth -= 1;
        result
    }

    /// [`Self::resolve`] for a node that a substitution leads to. Only
    /// substitutions lead back up the tree, so an endless recursion has to
    /// reach one of these nodes again while it is still being resolved (and
    /// resolving a node does not depend on how it was reached, so reaching
    /// it again means the recursion would not end).
    pub(super) fn resolve_target(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        let id: *const Node = node;
        if !self.active.insert(id) {
            return Err(self.cycle_error());
        }
        let result = self.resolve(node);
        self.active.remove(&id);
        result
    }

    #[cold]
    pub(super) fn cycle_error(&self) -> ParseError {
        // Leave out the substitutions that only led into the cycle.
        let chain = &self.chain;
        let start = chain
            .last()
            .and_then(|last| chain.iter().position(|step| step == last))
            .filter(|&first| first + 1 < chain.len())
            .unwrap_or(0);
        self.anchor
            .error(format!("substitution cycle: {}", chain[start..].join(" -> ")))
    }

    pub(super) fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_RESOLVE_DEPTH {
            return Err(self.anchor.error(format!(
                "substitutions nest too deeply (more than {MAX_RESOLVE_DEPTH} levels)"
            )));
        }
        self.charge(1)
    }

    pub(super) fn charge(&mut self, units: usize) -> Result<(), ParseError> {
        self.budget = self.budget.checked_sub(units).ok_or_else(|| {
            self.anchor.error(
                "the config grows too large as its substitutions are resolved \
                 (a value seems to be copied into itself many times)",
            )
        })?;
        Ok(())
    }

    // The work is split into small functions because they recurse into each
    // other once per nesting level, and small frames keep deep (but
    // allowed) configs within a thread's stack, even in debug builds.
    pub(super) fn resolve_inner(&mut self, node: &Node) -> Result<Option<Value>, ParseError> {
        match node {
            Node::Literal(value) => {
                self.charge(measure(value).0)?;
                Ok(Some(value.clone()))
            }
            Node::Object(object) => self.resolve_object(object),
            Node::Array(items) => self.resolve_array(items),
            Node::Subst(subst) => self.substitute(subst),
            Node::Previous { before, select, subst } => self.resolve_previous(before.as_deref(), select, subst),
            Node::Concat(pieces) => self.concat(pieces),
            Node::Merge(layers) => self.resolve_merge(layers),
        }
    }

    pub(super) fn resolve_object(&mut self, object: &ObjNode) -> Result<Option<Value>, ParseError> {
        let mut map = Map::new();
        for (key, child) in &object.entries {
            if let Some(value) = self.resolve(child)? {
                map.insert(key.clone(), value);
            }
        }
        Ok(Some(Value::Object(map)))
    }

    pub(super) fn resolve_array(&mut self, items: &[Node]) -> Result<Option<Value>, ParseError> {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.extend(self.resolve(item)?);
        }
        Ok(Some(Value::Array(values)))
    }

    pub(super) fn resolve_previous(
        &mut self,
        before: Option<&Node>,
        select: &[String],
        subst: &Subst,
    ) -> Result<Option<Value>, ParseError> {
        let outer = std::mem::replace(&mut self.anchor, subst.pos);
        let found = match before {
            Some(node) => self.resolve(node)?.and_then(|value| select_path(value, select)),
            None => None,
        };
        self.anchor = outer;
        self.fall_back(subst, found)
    }

    pub(super) fn resolve_merge(&mut self, layers: &[Node]) -> Result<Option<Value>, ParseError> {
        let mut merged = None;
        for layer in layers {
            if let Some(value) = self.resolve(layer)? {
                merged = Some(merge(merged, value));
            }
        }
        Ok(merged)
    }

    pub(super) fn substitute(&mut self, subst: &Subst) -> Result<Option<Value>, ParseError> {
        let outer = std::mem::replace(&mut self.anchor, subst.pos);
        let cached = self
            .cache
            .get(&subst.path)
            .map(|hit| hit.as_ref().map_or(1, |value| measure(value).0));
        let found = match cached {
            Some(cost) => {
                self.charge(cost)?;
                self.cache.get(&subst.path).cloned().flatten()
            }
            None => {
                self.chain.push(subst.display(false));
                let root = self.root;
                let found = self.lookup(root, &subst.path)?;
                self.chain.pop();
                if let Some(value) = &found {
                    let (weight, depth) = measure(value);
                    self.charge(weight)?;
                    // Cached values are not bounded by the recursion limit,
                    // so chains of them must be bounded here.
                    if depth > MAX_DEPTH {
                        return Err(subst.pos.error(format!(
                            "the value of {} nests more than {MAX_DEPTH} levels deep",
                            subst.display(false)
                        )));
                    }
                }
                self.cache.insert(subst.path.clone(), found.clone());
                found
            }
        };
        self.anchor = outer;
        self.fall_back(subst, found)
    }

    /// What a substitution not defined in the config becomes: the
    /// environment variable of that name, nothing if optional, else an error.
    pub(super) fn fall_back(&mut self, subst: &Subst, found: Option<Value>) -> Result<Option<Value>, ParseError> {
        if found.is_some() {
            return Ok(found);
        }
        let name = subst.path.join(".");
        let Some(env) = self.env else {
            if subst.optional {
                return Ok(None);
            }
            return Err(subst.pos.error(format!(
                "could not resolve substitution {}: it is not set in this config, and configs sent \
                 to the server do not read its environment variables; write {} if it is optional",
                subst.display(false),
                subst.display(true)
            )));
        };
        if let Some(value) = env(&name) {
            self.charge(1 + value.len() / 8)?;
            return Ok(Some(Value::String(value)));
        }
        if subst.optional {
            return Ok(None);
        }
        Err(subst.pos.error(format!(
            "could not resolve substitution {}: it is not set in the config and there is \
             no environment variable {name}; write {} if it is optional",
            subst.display(false),
            subst.display(true)
        )))
    }

    /// The value at `path` below `node`, resolving no more than needed: an
    /// object may refer to its own fields (`a { x = 1, y = ${a.x} }`) without
    /// that being a cycle.
    pub(super) fn lookup(&mut self, node: &Node, path: &[String]) -> Result<Option<Value>, ParseError> {
        let Some((key, rest)) = path.split_first() else {
            return self.resolve_target(node);
        };
        self.enter()?;
        let found = match node {
            Node::Object(object) => match object.get(key) {
                Some(child) => self.lookup(child, rest),
                None => Ok(None),
            },
            Node::Merge(layers) => self.lookup_layers(layers, path),
            other => self
                .resolve_target(other)
                .map(|value| value.and_then(|value| select_path(value, path))),
        };
        self.depth -= 1;
        found
    }

    /// [`Self::lookup`] through the definitions of one field, as they will
    /// merge, so that `app = ${defaults}` followed by `app.y = ${app.x}`
    /// works.
    pub(super) fn lookup_layers(&mut self, layers: &[Node], path: &[String]) -> Result<Option<Value>, ParseError> {
        let mut found = None;
        for layer in layers {
            if let Node::Object(_) = layer {
                if let Some(value) = self.lookup(layer, path)? {
                    found = Some(merge(found, value));
                }
                continue;
            }
            match self.resolve_target(layer)? {
                Some(value @ Value::Object(_)) => {
                    if let Some(value) = select_path(value, path) {
                        found = Some(merge(found, value));
                    }
                }
                // A non-object hides everything defined before it.
                Some(_) => found = None,
                None => {}
            }
        }
        Ok(found)
    }

    pub(super) fn concat(&mut self, pieces: &[Piece<Node>]) -> Result<Option<Value>, ParseError> {
        let mut joined: Option<Value> = None;
        let mut space = String::new();
        for piece in pieces {
            let (node, pos) = match piece {
                Piece::Space(text) => {
                    space.push_str(text);
                    continue;
                }
                Piece::Value(node, pos) => (node, *pos),
            };
            // An undefined `${?x}` adds nothing.
            let Some(value) = self.resolve(node)? else {
                continue;
            };
            joined = Some(self.join(joined.take(), value, &space, pos)?);
            space.clear();
        }
        Ok(joined)
    }

    pub(super) fn join(
        &mut self,
        left: Option<Value>,
        right: Value,
        space: &str,
        pos: Pos,
    ) -> Result<Value, ParseError> {
        Ok(match (left, right) {
            (None, right) => right,
            (Some(Value::Object(mut into)), Value::Object(from)) => {
                merge_maps(&mut into, from);
                Value::Object(into)
            }
            (Some(Value::Array(mut into)), Value::Array(from)) => {
                into.extend(from);
                Value::Array(into)
            }
            (Some(left), right) if is_simple(&left) && is_simple(&right) => {
                let right = simple_text(right);
                self.charge(1 + (space.len() + right.len()) / 8)?;
                let mut text = simple_text(left);
                text.push_str(space);
                text.push_str(&right);
                Value::String(text)
            }
            (Some(left), right) => {
                return Err(pos.error(format!(
                    "cannot concatenate {} with {}: values written side by side on one \
                     line are joined into one value",
                    kind(&right),
                    kind(&left)
                )));
            }
        })
    }
}

/// `later` merged over `earlier`: objects merge key by key, anything else
/// replaces what came before.
pub(super) fn merge(earlier: Option<Value>, later: Value) -> Value {
    match (earlier, later) {
        (Some(Value::Object(mut into)), Value::Object(from)) => {
            merge_maps(&mut into, from);
            Value::Object(into)
        }
        (_, later) => later,
    }
}

pub(super) fn merge_maps(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(value)) => merge_maps(inner, value),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

pub(super) fn select_path(mut value: Value, path: &[String]) -> Option<Value> {
    for key in path {
        value = match value {
            Value::Object(mut map) => map.swap_remove(key)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Roughly what copying a value costs (for the resolution budget), and how
/// deeply it nests.
pub(super) fn measure(value: &Value) -> (usize, usize) {
    let (mut weight, mut depth) = (0, 0);
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        weight += 1;
        depth = depth.max(level);
        match value {
            Value::String(text) => weight += text.len() / 8,
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, level + 1))),
            Value::Object(map) => {
                for (key, value) in map {
                    weight += key.len() / 8;
                    pending.push((value, level + 1));
                }
            }
            _ => {}
        }
    }
    (weight, depth)
}

pub(super) fn is_simple(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

pub(super) fn simple_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => "null".to_owned(),
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    }
}
