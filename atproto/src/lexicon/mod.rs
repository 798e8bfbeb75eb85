//! Lexicon (atproto.com/specs/lexicon): loading schema documents and validating record data
//! against them, as the reference PDS does on `createRecord`, `putRecord` and `applyWrites`.
//!
//! ```
//! use atproto::lexicon::{Lexicons, ValidationStatus};
//! use serde_json::json;
//!
//! let mut lex = Lexicons::new();
//! lex.add(&json!({
//!     "lexicon": 1,
//!     "id": "com.example.note",
//!     "defs": {"main": {"type": "record", "key": "tid", "record": {
//!         "type": "object", "required": ["text"],
//!         "properties": {"text": {"type": "string", "maxGraphemes": 10}}
//!     }}}
//! }))?;
//! lex.validate_record("com.example.note", &json!({"text": "hello"}))?;
//! let err = lex.validate_record("com.example.note", &json!({"text": 5})).unwrap_err();
//! assert_eq!(err.to_string(), "Record/text must be a string");
//! let status = lex.validate_record_if_known("com.example.other", &json!({}))?;
//! assert_eq!(status, ValidationStatus::Unknown);
//! # Ok::<(), atproto::lexicon::LexiconError>(())
//! ```
//!
//! Record data is taken in the atproto JSON form (`{"$link": …}`, `{"$bytes": …}`, blobs as
//! `{"$type": "blob", …}` or the legacy `{"cid", "mimeType"}`); converting it to DAG-CBOR,
//! with the data model's own rules, is [`crate::json`]'s job.
//!
//! | file | owns |
//! |------|------|
//! | `catalog` | [`Lexicons`]: loading documents and directories, look-ups, the record/record-key entry points |
//! | `parse` | reading a document from JSON, refusing invalid ones |
//! | `schema` | the typed model of a document ([`LexiconDoc`], [`Def`], [`Field`]) |
//! | `reference` | [`DefRef`]: `#local` / `nsid` / `nsid#def` references and `$type` matching |
//! | `validate` | walking data through objects, arrays, refs and unions |
//! | `scalars` | null, boolean, integer, string, bytes, cid-link and unknown values |
//! | `formats` | [`StringFormat`]: the string formats, via [`crate::syntax`] |
//! | `text` | UTF-8 and grapheme lengths |
//! | `blob` | blob references, `accept` patterns, `maxSize` |
//! | `data` | the data model's special JSON values (integers, `$bytes`, `$link`) |
//! | `record_key` | [`RecordKeyType`]: a record type's `key` |
//! | `error` | [`LexiconError`], [`ValidationError`] |

mod blob;
mod catalog;
mod data;
mod error;
mod formats;
mod parse;
mod record_key;
mod reference;
mod scalars;
mod schema;
mod text;
mod validate;

pub use blob::{mime_accepted, parse_blob, BlobRef};
pub use catalog::{Lexicons, ValidationStatus};
pub use error::{LexiconError, ValidationError};
pub use formats::StringFormat;
pub use parse::parse_doc;
pub use record_key::RecordKeyType;
pub use reference::DefRef;
pub use schema::{
    ArraySchema, BlobSchema, Body, BooleanSchema, BytesSchema, Def, Field, IntegerSchema, LexiconDoc, ObjectSchema, Permission, PermissionSetDef, RecordDef,
    StringSchema, SubscriptionDef, UnionSchema, XrpcDef,
};
pub use text::{grapheme_len, utf8_len};
pub use validate::RECORD_PATH;
