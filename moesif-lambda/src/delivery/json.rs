//! Compact JSON for the events sent: the bytes `serde_json::to_writer` writes, with string escaping that
//! passes over runs needing none eight bytes at a time. serde_json looks up every byte of every string
//! in a table; for the events of the capture bench that loop alone was a sixth of all the work of turning
//! a Lambda event into Moesif's JSON.
//!
//! Numbers are written by serde_json itself, so they are the same to the digit. What this writer cannot
//! write as serde_json would (a map key that is not a string, a number or a bool) is an error, and
//! [`to_vec`] then writes the value with serde_json.

use serde::ser::{self, Serialize};
use std::fmt;

/// `value` as compact JSON, as `serde_json::to_vec` writes it, in a buffer of `capacity` bytes to start.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(capacity);
    if value.serialize(Writer { out: &mut out }).is_ok() {
        return Ok(out);
    }
    out.clear();
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Why the fast writer gave up (the caller falls back to serde_json, which says why in its own words).
#[derive(Debug)]
struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not written by the fast JSON writer")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

impl From<serde_json::Error> for Unsupported {
    fn from(_: serde_json::Error) -> Self {
        Unsupported
    }
}

/// Whether any of the eight bytes in `word` is a control character, `"` or `\`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // `below(v, n)`: a byte's high bit is set where that byte of `v` is below `n` (exact for any byte
    // being so; bytes of 0x80 and up are cleared by `!v`).
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (below(word, 0x20) | below(quote, 1) | below(backslash, 1)) & HIGHS != 0
}

/// Whether some byte of `bytes` needs escaping: eight bytes at a time, the last few padded with a
/// letter.
fn any_to_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    if words
        .by_ref()
        .any(|word| <[u8; 8]>::try_from(word).is_ok_and(|word| needs_escape(u64::from_ne_bytes(word))))
    {
        return true;
    }
    let mut last = [b'a'; 8];
    let rest = words.remainder();
    if let Some(tail) = last.get_mut(..rest.len()) {
        tail.copy_from_slice(rest);
    }
    needs_escape(u64::from_ne_bytes(last))
}

/// How serde_json writes `byte` inside a string, if not as itself.
fn escaped(byte: u8, hex: &mut [u8; 6]) -> Option<&[u8]> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    Some(match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0x00..=0x1f => {
            *hex = [
                b'\\',
                b'u',
                b'0',
                b'0',
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0xf)],
            ];
            hex
        }
        _ => return None,
    })
}

/// `text` as a JSON string.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !any_to_escape(bytes) {
        out.extend_from_slice(bytes);
    } else {
        let mut hex = [0; 6];
        let mut run_start = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            if let Some(escape) = escaped(byte, &mut hex) {
                out.extend_from_slice(bytes.get(run_start..i).unwrap_or_default());
                out.extend_from_slice(escape);
                run_start = i + 1;
            }
        }
        out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    }
    out.push(b'"');
}

/// The serializer: appends to `out`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A number, as serde_json writes it.
    fn number<N: Serialize>(self, number: N) -> Result<(), Unsupported> {
        Ok(serde_json::to_writer(self.out, &number)?)
    }

    /// `{"variant":` and `open`: the variant's content follows, `close` ends it.
    fn variant(self, variant: &str, open: &[u8], close: &'static [u8]) -> Compound<'a> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        self.out.extend_from_slice(open);
        Compound {
            out: self.out,
            first: true,
            close,
        }
    }
}

/// What opening an array or object gives.
type Compounded<'a> = Result<Compound<'a>, Unsupported>;

/// An array or object being written; `close` ends it (`]`, `}`, and one more `}` for a variant's).
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: u8, close: &'static [u8]) -> Compound<'a> {
        out.push(open);
        Compound {
            out,
            first: true,
            close,
        }
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.separate();
        value.serialize(Writer { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unsupported> {
        self.separate();
        write_str(self.out, key);
        self.out.push(b':');
        value.serialize(Writer { out: self.out })
    }

    /// A map key: a string as it is; a number or a bool quoted, as serde_json does; nothing else.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.separate();
        let start = self.out.len();
        key.serialize(Writer { out: self.out })?;
        match self.out.get(start) {
            Some(b'"') => {}
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                self.out.insert(start, b'"');
                self.out.push(b'"');
            }
            _ => return Err(Unsupported),
        }
        self.out.push(b':');
        Ok(())
    }

    fn close(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// Numbers, written by serde_json.
macro_rules! numbers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, v: $type) -> Result<(), Unsupported> {
            self.number(v)
        }
    )*};
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    numbers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64
    );
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        let mut array = Compound::open(self.out, b'[', b"]");
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut array, byte)?;
        }
        array.close()
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let content = self.variant(variant, b"", b"}");
        value.serialize(Writer { out: &mut *content.out })?;
        content.close()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        Ok(Compound::open(self.out, b'[', b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Compounded<'a> {
        Ok(self.variant(variant, b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        Ok(Compound::open(self.out, b'{', b"}"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Compounded<'a> {
        Ok(self.variant(variant, b"{", b"}}"))
    }
}

/// The compound traits but the map's: each element a value (`element`), or a field's name and its value
/// (`field`).
macro_rules! compound {
    ($($kind:ident::$method:ident($($key:ident: $key_type:ty,)?) => $write:ident;)*) => {$(
        impl ser::$kind for Compound<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: $key_type,)? value: &T) -> Result<(), Unsupported> {
                self.$write($($key,)? value)
            }
            fn end(self) -> Result<(), Unsupported> {
                self.close()
            }
        }
    )*};
}

compound! {
    SerializeSeq::serialize_element() => element;
    SerializeTuple::serialize_element() => element;
    SerializeTupleStruct::serialize_field() => element;
    SerializeTupleVariant::serialize_field() => element;
    SerializeStruct::serialize_field(key: &'static str,) => field;
    SerializeStructVariant::serialize_field(key: &'static str,) => field;
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(Writer { out: self.out })
    }
    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::to_vec;
    use serde::Serialize;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    /// The JSON as text, or the error's message.
    fn text(json: Result<Vec<u8>, serde_json::Error>) -> Result<String, String> {
        json.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|error| error.to_string())
    }

    /// The fast writer's bytes are serde_json's.
    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) {
        let expected = text(serde_json::to_vec(value));
        assert!(expected.is_ok(), "serde_json writes it: {expected:?}");
        assert_eq!(text(to_vec(value, 0)), expected);
    }

    #[test]
    fn every_byte_that_needs_escaping_is_escaped_where_it_stands() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        same_as_serde_json(&every_ascii);
        for length in 0..40 {
            for at in 0..length {
                for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{8}', '\u{c}', '\t', '\r'] {
                    let mut text: String = "abcdefgh".chars().cycle().take(length).collect();
                    text.replace_range(at..at + 1, &special.to_string());
                    same_as_serde_json(&text);
                    same_as_serde_json(&json!({ text.clone(): text }));
                }
            }
        }
    }

    #[test]
    fn bytes_above_ascii_are_written_as_they_are() {
        for text in [
            "héllo wörld, ünïcode ✓ 日本語 🎉",
            "\u{7f}\u{80}\u{ff}",
            "\"🎉\"\\\u{2028}\u{2029}",
            "ß",
        ] {
            same_as_serde_json(&text);
            same_as_serde_json(&json!([text, { text: [text] }]));
        }
    }

    #[test]
    fn numbers_and_the_other_json_values_are_serde_jsons() {
        same_as_serde_json(&json!({
            "n": [0, -1, 1, i64::MIN, i64::MAX, u64::MAX, 0.1, -0.0, 1e300, 2.5e-8, 1.0, 123456.789],
            "b": [true, false, null],
            "empty": [{}, [], ""],
            "nested": { "a": { "b": [[{ "c": "d" }]] } },
        }));
        same_as_serde_json(&f64::NAN);
        same_as_serde_json(&[1.5f32, f32::INFINITY]);
        same_as_serde_json(&(1u8, 'x', "y", ()));
        same_as_serde_json(&i128::MIN);
        same_as_serde_json(&u128::MAX);
    }

    #[test]
    fn every_shape_serde_derives_is_written_as_serde_json_writes_it() {
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Newtype(String);
        #[derive(Serialize)]
        struct Tuple(u8, Option<u8>);
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Shape {
            Unit,
            Newtype(u16),
            Tuple(u8, String),
            Struct { a: bool, b: Vec<u8> },
        }
        #[derive(Serialize)]
        struct All {
            unit: Unit,
            newtype: Newtype,
            tuple: Tuple,
            shapes: Vec<Shape>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            none: Option<u8>,
            #[serde(with = "serde_bytes_like")]
            bytes: Vec<u8>,
        }
        mod serde_bytes_like {
            pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(bytes)
            }
        }
        same_as_serde_json(&All {
            unit: Unit,
            newtype: Newtype("n\"t".into()),
            tuple: Tuple(1, None),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(1, "two".into()),
                Shape::Struct { a: true, b: vec![1, 2] },
            ],
            skipped: None,
            none: None,
            bytes: vec![0, 255],
        });
    }

    #[test]
    fn map_keys_that_are_numbers_or_bools_are_quoted_and_others_fall_back_to_serde_json() {
        same_as_serde_json(&BTreeMap::from([(1u32, "one"), (20, "twenty")]));
        same_as_serde_json(&BTreeMap::from([(-3i64, 1)]));
        same_as_serde_json(&BTreeMap::from([(true, 1), (false, 0)]));
        same_as_serde_json(&BTreeMap::from([('k', 1)]));
        // serde_json refuses a key that is an array: so does `to_vec`, in serde_json's words.
        let odd = BTreeMap::from([(vec![1u8], 1)]);
        let refused = text(serde_json::to_vec(&odd));
        assert!(refused.is_err(), "serde_json refuses it: {refused:?}");
        assert_eq!(text(to_vec(&odd, 0)), refused);
    }

    #[test]
    fn the_conformance_events_are_written_byte_for_byte_as_serde_json_writes_them() {
        let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/cases");
        let mut seen = 0;
        let Ok(entries) = std::fs::read_dir(&cases) else {
            panic!("the conformance cases are at {}", cases.display());
        };
        for entry in entries.flatten() {
            for file in ["event.json", "expected.json", "response.json"] {
                let Ok(json) = std::fs::read_to_string(entry.path().join(file)) else {
                    continue;
                };
                match serde_json::from_str::<Value>(&json) {
                    Ok(parsed) => same_as_serde_json(&parsed),
                    Err(error) => panic!("{}/{file}: {error}", entry.path().display()),
                }
                seen += 1;
            }
        }
        assert!(seen > 50, "only {seen} conformance files were found");
    }
}
