//! [`Policy`] → JSON text, in IAM's element order, keeping single values single.

use std::fmt;

use crate::json::write_string;
use crate::model::{Negatable, Policy, PrincipalSet, Statement, Values};

impl fmt::Display for Policy {
    /// Prints the policy as indented JSON that [`crate::parse`] reads back to an
    /// equal policy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str("\n  ");
            write_string(out, name);
            out.push_str(": ");
        };
        if let Some(v) = self.version {
            key(&mut out, "Version");
            write_string(&mut out, v.as_str());
        }
        if let Some(id) = &self.id {
            key(&mut out, "Id");
            write_string(&mut out, id);
        }
        key(&mut out, "Statement");
        if self.single_statement && self.statements.len() == 1 {
            if let Some(st) = self.statements.first() {
                statement(&mut out, st, "  ");
            }
        } else {
            out.push('[');
            for (i, st) in self.statements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("\n    ");
                statement(&mut out, st, "    ");
            }
            out.push_str("\n  ]");
        }
        out.push_str("\n}");
        f.write_str(&out)
    }
}

fn statement(out: &mut String, st: &Statement, indent: &str) {
    let inner = format!("{indent}  ");
    out.push('{');
    let mut first = true;
    let mut key = |out: &mut String, name: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('\n');
        out.push_str(&inner);
        write_string(out, name);
        out.push_str(": ");
    };
    if let Some(sid) = &st.sid {
        key(out, "Sid");
        write_string(out, sid);
    }
    key(out, "Effect");
    write_string(out, st.effect.as_str());
    if let Some(Negatable { negated, value }) = &st.principal {
        key(
            out,
            if *negated {
                "NotPrincipal"
            } else {
                "Principal"
            },
        );
        match value {
            PrincipalSet::Any => write_string(out, "*"),
            PrincipalSet::Map(map) => {
                out.push('{');
                for (i, (kind, values)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(out, kind.as_str());
                    out.push_str(": ");
                    list(out, values);
                }
                out.push('}');
            }
        }
    }
    key(
        out,
        if st.action.negated {
            "NotAction"
        } else {
            "Action"
        },
    );
    list(out, &st.action.value);
    if let Some(Negatable { negated, value }) = &st.resource {
        key(out, if *negated { "NotResource" } else { "Resource" });
        list(out, value);
    }
    if !st.condition.is_empty() {
        key(out, "Condition");
        out.push('{');
        for (i, block) in st.condition.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_string(out, &block.operator.to_string());
            out.push_str(": {");
            for (j, (k, values)) in block.entries.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                write_string(out, k);
                out.push_str(": ");
                list(out, values);
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push('\n');
    out.push_str(indent);
    out.push('}');
}

fn list(out: &mut String, values: &Values) {
    match values.items.as_slice() {
        [one] if values.single => write_string(out, one),
        items => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, v);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn prints_what_it_parsed() {
        for text in [
            include_str!("../../../examples/trust-policy.json"),
            include_str!("../../../examples/app-policy.json"),
            include_str!("../../../examples/conditions-policy.json"),
            r#"{"Id":"x","Statement":{"Sid":"S","Effect":"Deny","NotPrincipal":{"AWS":["123456789012"]},"NotAction":"s3:*","NotResource":"*"}}"#,
        ] {
            let p = parse(text).unwrap();
            let printed = p.to_string();
            assert_eq!(parse(&printed).unwrap(), p, "{printed}");
        }
    }
}
