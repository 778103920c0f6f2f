//! XML responses of the Query protocol.
//!
//! `<{Action}Response xmlns=NS><{Action}Result>…</{Action}Result>
//! <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></{Action}Response>`
//! and, for errors, `<ErrorResponse xmlns=NS><Error><Type/><Code/><Message/></Error>
//! <RequestId/></ErrorResponse>`, as IAM and STS send them.

/// Builds an XML document; element content is escaped.
#[derive(Debug, Default)]
pub(crate) struct Xml {
    out: String,
}

/// Escapes text for element content. Quotes stay as they are, as in AWS's
/// responses (`Value 'x' at 'roleName'`); they need escaping only in attributes.
pub(crate) fn escape(text: &str, out: &mut String) {
    let mut rest = text;
    // Copy runs without special characters whole (tokens are long and plain).
    while let Some(i) = rest.find(['&', '<', '>', '\r']) {
        out.push_str(rest.get(..i).unwrap_or_default());
        out.push_str(match rest.as_bytes().get(i) {
            Some(b'&') => "&amp;",
            Some(b'<') => "&lt;",
            Some(b'>') => "&gt;",
            _ => "&#xD;",
        });
        rest = rest.get(i + 1..).unwrap_or_default();
    }
    out.push_str(rest);
}

impl Xml {
    /// Opens `<name>`.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`.
    pub(crate) fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape(text, &mut self.out);
        self.close(name)
    }

    /// `<name>text</name>` when `text` is present.
    pub(crate) fn opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.text(name, t);
        }
        self
    }

    /// `<name/>`.
    pub(crate) fn empty(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
        self
    }

    /// A list: `<name><member>…</member>…</name>`, or `<name/>` when empty.
    pub(crate) fn list<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut item: impl FnMut(&mut Xml, &T),
    ) -> &mut Self {
        if items.is_empty() {
            return self.empty(name);
        }
        self.open(name);
        for i in items {
            self.open("member");
            item(self, i);
            self.close("member");
        }
        self.close(name)
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, name: &str, items: &[String]) -> &mut Self {
        self.list(name, items, |x, s| {
            escape(s, &mut x.out);
        })
    }

    /// Raw, already escaped text.
    pub(crate) fn raw(&mut self, text: &str) -> &mut Self {
        self.out.push_str(text);
        self
    }

    /// The document so far.
    pub(crate) fn as_str(&self) -> &str {
        &self.out
    }

    /// The document.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// A success response; `result` writes the inside of `<{action}Result>`, or
/// `None` for actions without output (no Result element).
pub(crate) fn response(
    namespace: &str,
    action: &str,
    request_id: &str,
    result: Option<Xml>,
) -> String {
    let mut x = Xml::default();
    x.raw(&format!("<{action}Response xmlns=\"{namespace}\">"));
    if let Some(r) = result {
        let inner = r.finish();
        if inner.is_empty() {
            x.raw(&format!("<{action}Result/>"));
        } else {
            x.raw(&format!("<{action}Result>"));
            x.raw(&inner);
            x.raw(&format!("</{action}Result>"));
        }
    }
    x.open("ResponseMetadata")
        .text("RequestId", request_id)
        .close("ResponseMetadata");
    x.raw(&format!("</{action}Response>"));
    x.finish()
}

/// An error response.
pub(crate) fn error(
    namespace: &str,
    sender: bool,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut x = Xml::default();
    x.raw(&format!("<ErrorResponse xmlns=\"{namespace}\">"));
    x.open("Error")
        .text("Type", if sender { "Sender" } else { "Receiver" })
        .text("Code", code)
        .text("Message", message)
        .close("Error");
    x.text("RequestId", request_id);
    x.raw("</ErrorResponse>");
    x.finish()
}

/// Percent-encodes a policy document as IAM returns it (RFC 3986 unreserved
/// characters kept; "Policies returned by this operation are URL-encoded
/// compliant with RFC 3986", API_GetRolePolicy).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_shapes() {
        let mut r = Xml::default();
        r.text("RoleName", "a<b>&\"c\"").strings("L", &[]);
        let doc = response(
            "https://iam.amazonaws.com/doc/2010-05-08/",
            "GetRole",
            "rid",
            Some(r),
        );
        assert_eq!(
            doc,
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><RoleName>a&lt;b&gt;&amp;\"c\"</RoleName><L/></GetRoleResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetRoleResponse>"
        );
        let doc = response("ns", "UpdateRole", "rid", Some(Xml::default()));
        assert!(doc.contains("<UpdateRoleResult/>"));
        let doc = response("ns", "DeleteRole", "rid", None);
        assert!(!doc.contains("Result"));
    }

    #[test]
    fn policy_documents_are_rfc3986_encoded() {
        assert_eq!(
            url_encode("{\"a\": \"b*\"}\n"),
            "%7B%22a%22%3A%20%22b%2A%22%7D%0A"
        );
    }
}
