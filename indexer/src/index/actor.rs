//! Actor records: the profile (`app.bsky.actor.profile/self`).

use atproto::Ipld;
use serde::Deserialize;

use super::{check_type, typed, Facts, PROFILE};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // decoding checks the types; views read the stored record
struct ProfileRecord {
    display_name: Option<String>,
    description: Option<String>,
}

/// The fields search and views read from a profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileFields {
    pub display_name: Option<String>,
    pub description: Option<String>,
}

pub fn profile(value: &Ipld) -> Result<Facts, String> {
    check_type(value, PROFILE)?;
    typed::<ProfileRecord>(value)?;
    Ok(Facts::Profile)
}

/// The display name and description of a stored profile record.
pub fn fields(cbor: &[u8]) -> ProfileFields {
    atproto::cbor::decode_value(cbor)
        .ok()
        .and_then(|v| typed::<ProfileRecord>(&v).ok())
        .map(|r| ProfileFields { display_name: r.display_name, description: r.description })
        .unwrap_or_default()
}
