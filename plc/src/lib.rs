//! The did:plc directory service (being written).
