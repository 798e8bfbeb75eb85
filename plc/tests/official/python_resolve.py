"""Resolve a DID through the Python `atproto` SDK's DidResolver pointed at our directory.

Usage: python python_resolve.py PLC_URL DID [MISSING_DID]
Prints the SDK's AtprotoData as JSON; with MISSING_DID, also checks it resolves to None.
"""
import json
import sys

from atproto import DidResolver

plc_url, did = sys.argv[1], sys.argv[2]
resolver = DidResolver(plc_url=plc_url)
data = resolver.resolve_atproto_data(did)
out = {"did": data.did, "signing_key": data.signing_key, "handle": data.handle, "pds": data.pds}
if len(sys.argv) > 3:
    out["missing"] = resolver.resolve(sys.argv[3])
print(json.dumps(out))
