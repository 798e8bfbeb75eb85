//! Query-string parameters: repeated keys (`actors=a&actors=b`) are kept, and every handler
//! turns them into a typed input with these checks, each failure an `InvalidRequest`.

use atproto::xrpc::XrpcError;

#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&str, XrpcError> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| XrpcError::invalid_request(format!("Error: Params must have the property \"{name}\"")))
    }

    /// Every value of a repeated parameter (also `name[]`), at most `max`.
    pub fn all(&self, name: &str, max: usize) -> Result<Vec<String>, XrpcError> {
        let bracket = format!("{name}[]");
        let out: Vec<String> = self.0.iter().filter(|(k, _)| *k == name || *k == bracket).map(|(_, v)| v.clone()).collect();
        if out.len() > max {
            return Err(XrpcError::invalid_request(format!("{name}: at most {max} values")));
        }
        Ok(out)
    }

    /// `limit`, within `1..=max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, XrpcError> {
        self.int("limit", default as i64, 1, max as i64).map(|v| v as usize)
    }

    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, XrpcError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(XrpcError::invalid_request(format!("{name} must be an integer from {min} to {max}"))),
            },
        }
    }

    pub fn cursor(&self) -> Option<&str> {
        self.get("cursor").filter(|c| !c.is_empty())
    }

    /// An AT-URI parameter, checked.
    pub fn at_uri(&self, name: &str) -> Result<&str, XrpcError> {
        let v = self.required(name)?;
        v.parse::<atproto::syntax::AtUri>().map_err(|e| XrpcError::invalid_request(format!("{name}: {e}")))?;
        Ok(v)
    }

    /// An actor parameter: a DID or a handle.
    pub fn actor(&self, name: &str) -> Result<&str, XrpcError> {
        let v = self.required(name)?;
        let ok = v.parse::<atproto::syntax::Did>().is_ok() || v.parse::<atproto::syntax::Handle>().is_ok();
        if !ok {
            return Err(XrpcError::invalid_request(format!("{name} must be a DID or a handle")));
        }
        Ok(v)
    }
}
