//! XML out (S3's response documents) and in (the small documents requests
//! carry: Delete, Tagging, CompleteMultipartUpload, …).

/// The namespace of S3's documents.
pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document.
#[derive(Debug, Default)]
pub struct Writer(String);

impl Writer {
    /// A document with its declaration.
    pub fn document() -> Writer {
        Writer(String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#))
    }

    /// Opens the root element in S3's namespace.
    pub fn root(&mut self, name: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push_str(" xmlns=\"");
        self.0.push_str(NAMESPACE);
        self.0.push_str("\">");
    }

    /// Opens an element.
    pub fn open(&mut self, name: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
    }

    /// Closes an element.
    pub fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    /// `<name>text</name>`, the text escaped.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.0, text);
        self.close(name);
    }

    /// Text, escaped.
    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.0, text);
    }

    /// Markup as given (constant strings only).
    pub fn raw(&mut self, markup: &'static str) {
        self.0.push_str(markup);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.0
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry as text are written as
            // references, as S3 does for keys holding them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An element read from a request document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Text content (concatenated, unescaped).
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Deepest nesting a request document may have.
const MAX_DEPTH: usize = 16;
/// Most elements a request document may have (a Delete of 1,000 keys has
/// about 3,000; a CompleteMultipartUpload of 10,000 parts about 30,000).
const MAX_ELEMENTS: usize = 40_000;

/// Parses a request document; `None` when it is not well-formed, has more
/// than one root, a DOCTYPE, or exceeds the depth and element limits.
pub fn parse(body: &[u8]) -> Option<Element> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                count += 1;
                if root.is_some() || stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return None;
                }
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).ok()?;
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                count += 1;
                if root.is_some() || count > MAX_ELEMENTS {
                    return None;
                }
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).ok()?;
                let el = Element {
                    name,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let done = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t.xml_content().ok()?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return None,
                }
            }
            Event::GeneralRef(r) => {
                let el = stack.last_mut()?;
                if let Some(c) = r.resolve_char_ref().ok()? {
                    el.text.push(c);
                } else {
                    let name = r.decode().ok()?;
                    el.text.push(match name.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    });
                }
            }
            Event::CData(c) => {
                let el = stack.last_mut()?;
                el.text.push_str(std::str::from_utf8(&c).ok()?);
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return None;
    }
    let mut root = root?;
    trim_structure(&mut root);
    Some(root)
}

/// Whitespace between child elements is not text.
fn trim_structure(el: &mut Element) {
    if !el.children.is_empty() && el.text.trim().is_empty() {
        el.text.clear();
    }
    for c in &mut el.children {
        trim_structure(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documents_with_namespaces_entities_and_whitespace() {
        let doc = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Object><Key>a&amp;b&#x41;&lt;</Key></Object>
              <Object><Key><![CDATA[c<d]]></Key></Object>
              <Quiet>true</Quiet>
            </Delete>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "Delete");
        let keys: Vec<&str> = doc.all("Object").filter_map(|o| o.text_of("Key")).collect();
        assert_eq!(keys, ["a&bA<", "c<d"]);
        assert_eq!(doc.text_of("Quiet"), Some("true"));
        assert_eq!(doc.text, "");
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_bounded_document() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"<a/><b/>",
            b"text",
            b"<a>&unknown;</a>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a>\xff</a>",
            b"",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "<a>".repeat(17), "</a>".repeat(17));
        assert_eq!(parse(deep.as_bytes()), None);
        let ok = format!("{}{}", "<a>".repeat(16), "</a>".repeat(16));
        assert!(parse(ok.as_bytes()).is_some());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(wide.as_bytes()), None);
    }

    #[test]
    fn writes_escaped_text() {
        let mut w = Writer::document();
        w.root("R");
        w.leaf("Key", "a<b>&\"'\u{1}\r");
        w.close("R");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;b&gt;&amp;&quot;&apos;&#x1;&#xD;</Key></R>"
        );
    }
}
