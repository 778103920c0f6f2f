//! The request context: condition keys and their values.
//!
//! Key names are case-insensitive (`aws:SourceIp` and `AWS:SOURCEIP` are one key);
//! values are kept as given and compared as each operator says.
//! Reference: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>

/// A condition key's value in a request: single-valued, or a set (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// One value, e.g. `aws:SourceIp`.
    Single(String),
    /// A set of values, e.g. `aws:TagKeys`; may be empty.
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice: one for single-valued keys.
    pub fn as_slice(&self) -> &[String] {
        match self {
            ContextValue::Single(v) => std::slice::from_ref(v),
            ContextValue::Multi(vs) => vs,
        }
    }
}

/// Condition keys of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, ContextValue)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// Sets a single-valued key, replacing any value it had.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.set(key.into(), ContextValue::Single(value.into()))
    }

    /// Sets a multivalued key, replacing any value it had.
    pub fn insert_multi<I, S>(&mut self, key: impl Into<String>, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values = values.into_iter().map(Into::into).collect();
        self.set(key.into(), ContextValue::Multi(values))
    }

    /// Adds a value to a key, making it multivalued if it already had one.
    pub fn append(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => {
                if let Some((_, existing)) = self.entries.get_mut(i) {
                    let mut all = existing.as_slice().to_vec();
                    all.push(value);
                    *existing = ContextValue::Multi(all);
                }
            }
            None => self.entries.push((key, ContextValue::Single(value))),
        }
        self
    }

    /// Sets `key` unless the context already has it.
    pub fn insert_default(&mut self, key: &str, value: &str) -> &mut Self {
        if self.get(key).is_none() {
            self.insert(key, value);
        }
        self
    }

    fn set(&mut self, key: String, value: ContextValue) -> &mut Self {
        match self.position(&key) {
            Some(i) => {
                if let Some(entry) = self.entries.get_mut(i) {
                    *entry = (key, value);
                }
            }
            None => self.entries.push((key, value)),
        }
        self
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    /// The value of a key, matched case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The value of a single-valued key (what a policy variable substitutes).
    pub fn single(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            ContextValue::Single(v) => Some(v),
            ContextValue::Multi(_) => None,
        }
    }

    /// Every key and value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}
