//! Shared test helpers: a directory server on 127.0.0.1:0 over RocksDB in a tempdir, and
//! accounts whose rotation keys sign real PLC operations.

#![allow(dead_code)]

use atproto::keys::{KeyType, Keypair};
use atproto::plc::{genesis, PlcState, SignedOp};
use plc::{PlcClient, PlcServer, ServerBuilder};
use tempfile::TempDir;

pub struct TestServer {
    pub server: PlcServer,
    pub client: PlcClient,
    pub data: TempDir,
}

pub async fn start() -> TestServer {
    let data = tempfile::tempdir().unwrap();
    start_in(data).await
}

pub async fn start_in(data: TempDir) -> TestServer {
    let server = ServerBuilder::new(data.path()).bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = PlcClient::new(&server.url()).unwrap();
    TestServer { server, client, data }
}

/// An identity: `recovery` outranks `rotation` (index 0 vs 1); `signing` is the atproto key.
pub struct Account {
    pub recovery: Keypair,
    pub rotation: Keypair,
    pub signing: Keypair,
    pub did: String,
    pub genesis: SignedOp,
    pub state: PlcState,
}

impl Account {
    pub fn new(handle: &str) -> Self {
        let recovery = Keypair::generate(KeyType::K256);
        let rotation = Keypair::generate(KeyType::P256);
        let signing = Keypair::generate(KeyType::K256);
        let state = PlcState::atproto(vec![recovery.did_key(), rotation.did_key()], &signing.did_key(), handle, "https://pds.test");
        let (did, genesis) = genesis(state.clone(), &rotation);
        Account { recovery, rotation, signing, did, genesis, state }
    }
}
