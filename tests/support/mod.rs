//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::time::Duration;

use cdn_unblock::client::{Client, ClientConfig, Endpoint};
use cdn_unblock::credentials::{Credentials, Secret};
use cdn_unblock::sim::{self, SimConfig, SimHandle};

/// The simulator's default keys.
pub fn sim_credentials() -> Credentials {
    Credentials {
        secret_id: "AKIDsimulator".into(),
        secret_key: Secret::new("simulator-secret"),
        token: None,
    }
}

/// A simulator config on a free loopback port that records calls in memory.
pub fn sim_config() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        record: true,
        seed: Some(1),
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    sim::start(config).await.expect("the simulator starts")
}

pub fn client_for(sim: &SimHandle, credentials: Credentials) -> Client {
    client_with_timeout(sim, credentials, Duration::from_secs(10))
}

pub fn client_with_timeout(sim: &SimHandle, credentials: Credentials, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        endpoint: Endpoint::parse(&sim.endpoint()).unwrap(),
        credentials,
        region: None,
        language: Some("en-US".into()),
        timeout,
    })
    .unwrap()
}

pub fn urls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
