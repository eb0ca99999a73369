//! Field definitions applied in order to one tree of nodes: paths expanded,
//! duplicate objects merged, the earlier value kept for self-references.

use super::*;

/// A value after duplicate keys are merged, before substitutions resolve.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Literal(Value),
    Object(ObjNode),
    Array(Vec<Node>),
    Subst(Subst),
    Concat(Vec<Piece<Node>>),
    /// Definitions of one field whose merge has to wait until substitutions
    /// resolve: each later one merges into, or replaces, the earlier ones.
    Merge(Vec<Node>),
    /// A self-reference: the field's value before this definition (`None`
    /// if there was none), narrowed to `select`.
    Previous {
        before: Option<Rc<Node>>,
        select: Vec<String>,
        subst: Subst,
    },
}

impl Default for Node {
    fn default() -> Self {
        Node::Literal(Value::Null)
    }
}

/// An object's fields in the order they were first defined.
#[derive(Debug, Clone, Default)]
pub(super) struct ObjNode {
    pub(super) entries: Vec<(String, Node)>,
    pub(super) index: HashMap<String, usize>,
}

impl ObjNode {
    /// Most objects are small, and scanning them beats hashing every key.
    const INDEX_FROM: usize = 8;

    pub(super) fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= Self::INDEX_FROM {
            self.entries.iter().position(|(name, _)| name == key)
        } else {
            self.index.get(key).copied()
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        let i = self.position(key)?;
        self.entries.get(i).map(|(_, node)| node)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let i = self.position(key)?;
        self.entries.get_mut(i).map(|(_, node)| node)
    }

    pub(super) fn insert(&mut self, key: String, node: Node) {
        if let Some(slot) = self.get_mut(&key) {
            *slot = node;
            return;
        }
        self.entries.push((key, node));
        let len = self.entries.len();
        if len == Self::INDEX_FROM + 1 {
            let keys = self.entries.iter().enumerate();
            self.index = keys.map(|(i, (name, _))| (name.clone(), i)).collect();
        } else if len > Self::INDEX_FROM + 1
            && let Some((name, _)) = self.entries.last()
        {
            self.index.insert(name.clone(), len - 1);
        }
    }

    /// The field `key`, created as an empty object if missing.
    pub(super) fn slot(&mut self, key: &str) -> Option<&mut Node> {
        if self.position(key).is_none() {
            self.insert(key.to_owned(), Node::Object(ObjNode::default()));
        }
        self.get_mut(key)
    }
}

/// Applies one field definition to `target`: the document root when
/// `is_root`, else an object nested in an array or a concatenation. `path`
/// is where the field's object sits in `target`; it comes back unchanged.
pub(super) fn define(target: &mut ObjNode, path: &mut Vec<String>, field: Field, is_root: bool) {
    let outer = path.len();
    path.extend(field.path);
    match field.value {
        Ast::Object(fields) if !field.append => {
            // Even `a {}` defines `a`, so make the object exist first.
            object_at(target, path);
            for nested in fields {
                define(target, path, nested, is_root);
            }
        }
        value => {
            let (node, looks_back) = field_node(value, path, target, is_root);
            if !field.append {
                put(target, path, node, looks_back);
            } else if let Some(Node::Array(items)) = node_at_mut(target, path) {
                // Appending to a plain array needs no self-reference, which
                // keeps long runs of `+=` flat instead of nesting them.
                items.push(node);
            } else {
                let node = appended(target, path, node, field.pos);
                put(target, path, node, true);
            }
        }
    }
    path.truncate(outer);
}

/// Converts a field's value. Substitution paths are absolute, so only in
/// the root can a substitution name the field being defined; there (and
/// only as the whole value or a piece of a concatenation, as the spec says)
/// it means the field's earlier value.
pub(super) fn field_node(value: Ast, path: &[String], target: &ObjNode, is_root: bool) -> (Node, bool) {
    let mut earlier = None;
    let mut looks_back = false;
    let mut convert = |ast: Ast| match ast {
        Ast::Subst(subst) if is_root && subst.path.starts_with(path) => {
            looks_back = true;
            // One shared copy of the earlier value however often it is named.
            let (before, mut select) = earlier
                .get_or_insert_with(|| previous(target, path))
                .clone()
                .map_or((None, Vec::new()), |(node, select)| (Some(node), select));
            select.extend(subst.path.iter().skip(path.len()).cloned());
            Node::Previous { before, select, subst }
        }
        other => to_node(other),
    };
    let node = match value {
        Ast::Concat(pieces) => Node::Concat(pieces.into_iter().map(|piece| piece.map(&mut convert)).collect()),
        other => convert(other),
    };
    (node, looks_back)
}

pub(super) fn to_node(ast: Ast) -> Node {
    match ast {
        Ast::Literal(value) => Node::Literal(value),
        Ast::Subst(subst) => Node::Subst(subst),
        Ast::Array(items) => Node::Array(items.into_iter().map(to_node).collect()),
        Ast::Concat(pieces) => Node::Concat(pieces.into_iter().map(|piece| piece.map(to_node)).collect()),
        Ast::Object(fields) => {
            let mut object = ObjNode::default();
            for field in fields {
                define(&mut object, &mut Vec::new(), field, false);
            }
            Node::Object(object)
        }
    }
}

/// `a += x` is `a = ${?a} [x]`, except that a first `+=` does not consult
/// the environment.
pub(super) fn appended(target: &ObjNode, path: &[String], item: Node, pos: Pos) -> Node {
    let array = Node::Array(vec![item]);
    match previous(target, path) {
        None => array,
        Some((before, select)) => {
            let earlier = Node::Previous {
                before: Some(before),
                select,
                subst: Subst {
                    path: path.to_vec(),
                    optional: true,
                    pos,
                },
            };
            Node::Concat(vec![Piece::Value(earlier, pos), Piece::Value(array, pos)])
        }
    }
}

/// The node currently defined at `path`, or the nearest enclosing node that
/// is not a plain object together with the rest of the path to select in it.
pub(super) fn previous(target: &ObjNode, path: &[String]) -> Option<(Rc<Node>, Vec<String>)> {
    let (last, parents) = path.split_last()?;
    let mut object = target;
    for (i, key) in parents.iter().enumerate() {
        match object.get(key)? {
            Node::Object(inner) => object = inner,
            other => return Some((Rc::new(other.clone()), path[i + 1..].to_vec())),
        }
    }
    object.get(last).map(|node| (Rc::new(node.clone()), Vec::new()))
}

pub(super) fn node_at_mut<'o>(mut object: &'o mut ObjNode, path: &[String]) -> Option<&'o mut Node> {
    let (last, parents) = path.split_last()?;
    for key in parents {
        match object.get_mut(key)? {
            Node::Object(inner) => object = inner,
            _ => return None,
        }
    }
    object.get_mut(last)
}

/// The object at `path`, created or layered over whatever is there. `None`
/// cannot happen; it only spares the code a panic path.
pub(super) fn object_at<'o>(mut object: &'o mut ObjNode, path: &[String]) -> Option<&'o mut ObjNode> {
    for key in path {
        object = object_slot(object.slot(key)?)?;
    }
    Some(object)
}

/// Makes `slot` hold an object that later fields can go into: a scalar or
/// array is replaced, while a value that may still turn out to be an object
/// (a substitution, say) gets the new object merged over it later.
pub(super) fn object_slot(slot: &mut Node) -> Option<&mut ObjNode> {
    match slot {
        Node::Object(_) | Node::Merge(_) => {}
        Node::Literal(_) | Node::Array(_) => *slot = Node::Object(ObjNode::default()),
        _ => {
            let earlier = std::mem::take(slot);
            *slot = Node::Merge(vec![earlier]);
        }
    }
    match slot {
        Node::Object(object) => Some(object),
        Node::Merge(layers) => {
            if !matches!(layers.last(), Some(Node::Object(_))) {
                layers.push(Node::Object(ObjNode::default()));
            }
            match layers.last_mut() {
                Some(Node::Object(object)) => Some(object),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Sets the field at `path`. A value that is only known after resolution
/// (it may be an object to merge, or an undefined `${?x}` that keeps the
/// earlier value) is layered over the earlier one, unless it already refers
/// to the earlier value itself.
pub(super) fn put(target: &mut ObjNode, path: &[String], node: Node, replace: bool) {
    let Some((key, parents)) = path.split_last() else {
        return;
    };
    let Some(parent) = object_at(target, parents) else {
        return;
    };
    let deferred = !matches!(node, Node::Literal(_) | Node::Array(_));
    match parent.get_mut(key) {
        Some(Node::Merge(layers)) if deferred && !replace => layers.push(node),
        Some(slot) if deferred && !replace => {
            let earlier = std::mem::take(slot);
            *slot = Node::Merge(vec![earlier, node]);
        }
        _ => parent.insert(key.clone(), node),
    }
}
