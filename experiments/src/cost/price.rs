//! Pricing a need on a provider: the cheapest instance that fits, plus the block storage and the
//! traffic it does not include.
//!
//! "Cheapest" is over the whole monthly bill, not the instance price alone: a bigger instance
//! that includes more disk or traffic can be the cheaper bill, and then it is the one chosen.

use serde::Serialize;

use super::data::{Instance, Provider};

/// What a component needs, headroom included, per month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Need {
    pub vcpu: f64,
    pub ram_gb: f64,
    pub disk_gb: f64,
    pub egress_gb_month: f64,
}

/// The resource that decides the bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Cpu,
    Ram,
    Disk,
    Egress,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Cpu => "CPU",
            Resource::Ram => "RAM",
            Resource::Disk => "disk",
            Resource::Egress => "egress",
        })
    }
}

/// One provider's bill for a need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub provider: String,
    pub instance: String,
    pub instance_eur: f64,
    /// Block storage beyond the instance's own disk.
    pub storage_gb: f64,
    pub storage_eur: f64,
    /// Traffic beyond what the instance includes.
    pub egress_gb: f64,
    pub egress_eur: f64,
    pub total_eur: f64,
    pub binding: Resource,
}

/// Why a provider cannot host a need.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
pub enum NoFit {
    #[error("no instance has {vcpu:.1} vCPU and {ram_gb:.1} GB of RAM (largest: {largest})")]
    TooBig { vcpu: f64, ram_gb: f64, largest: String },
    #[error("needs {disk_gb:.0} GB of disk and sells no block storage")]
    NoStorage { disk_gb: f64 },
    #[error("needs {egress_gb:.0} GB/month of traffic beyond what is included and lists no egress price")]
    NoEgressPrice { egress_gb: f64 },
}

/// The cheapest bill for `need` on `provider`.
pub fn quote(provider: &Provider, need: &Need) -> Result<Quote, NoFit> {
    let mut best: Option<Quote> = None;
    let mut last_error = None;
    for instance in &provider.instances {
        if instance.vcpu.0 < need.vcpu || instance.ram_gb.0 < need.ram_gb {
            continue;
        }
        match bill(provider, instance, need) {
            Ok(q) => {
                if best.as_ref().is_none_or(|b| q.total_eur < b.total_eur) {
                    best = Some(q);
                }
            }
            Err(e) => last_error = Some(e),
        }
    }
    best.ok_or_else(|| {
        last_error.unwrap_or_else(|| {
            let largest = provider.instances.iter().max_by(|a, b| a.vcpu.0.total_cmp(&b.vcpu.0).then(a.ram_gb.0.total_cmp(&b.ram_gb.0)));
            NoFit::TooBig {
                vcpu: need.vcpu,
                ram_gb: need.ram_gb,
                largest: largest.map(|i| format!("{} with {} vCPU, {} GB", i.name, i.vcpu.0, i.ram_gb.0)).unwrap_or_default(),
            }
        })
    })
}

fn bill(provider: &Provider, instance: &Instance, need: &Need) -> Result<Quote, NoFit> {
    let storage_gb = (need.disk_gb - instance.disk_gb.0).max(0.0);
    let storage_eur =
        if storage_gb > 0.0 { storage_gb * provider.block_storage_eur_gb_month.ok_or(NoFit::NoStorage { disk_gb: need.disk_gb })?.0 } else { 0.0 };
    let egress_gb = (need.egress_gb_month - instance.traffic_tb.0 * 1000.0).max(0.0);
    let egress_eur = if egress_gb > 0.0 { egress_gb * provider.egress_eur_gb.ok_or(NoFit::NoEgressPrice { egress_gb })?.0 } else { 0.0 };
    let instance_eur = instance.eur_month.0;
    // The binding resource: storage or traffic when either costs more than the machine,
    // otherwise whichever of CPU and RAM fills more of it.
    let binding = if storage_eur.max(egress_eur) > instance_eur {
        if storage_eur >= egress_eur {
            Resource::Disk
        } else {
            Resource::Egress
        }
    } else if need.vcpu / instance.vcpu.0 >= need.ram_gb / instance.ram_gb.0 {
        Resource::Cpu
    } else {
        Resource::Ram
    };
    Ok(Quote {
        provider: provider.id().to_string(),
        instance: instance.name.clone(),
        instance_eur,
        storage_gb,
        storage_eur,
        egress_gb,
        egress_eur,
        total_eur: instance_eur + storage_eur + egress_eur,
        binding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::data::Prices;
    use std::path::Path;

    const PRICES: &str = include_str!("worked_example_prices.toml");

    fn providers() -> Prices {
        Prices::parse(PRICES, Path::new("test.toml")).unwrap()
    }

    #[test]
    fn the_small_instance_when_it_fits() {
        let p = providers();
        let q = quote(&p.providers[0], &Need { vcpu: 1.5, ram_gb: 1.0, disk_gb: 10.0, egress_gb_month: 100.0 }).unwrap();
        assert_eq!((q.instance.as_str(), q.total_eur, q.binding), ("small", 5.0, Resource::Cpu));
    }

    #[test]
    fn storage_and_traffic_beyond_the_included_are_added() {
        let p = providers();
        // small: 5 + (140 GB × 0.05 = 7) + (1,500 GB × 0.01 = 15) = 27; big: 40. Small wins,
        // and the traffic, costing more than the machine, binds.
        let q = quote(&p.providers[0], &Need { vcpu: 1.0, ram_gb: 2.0, disk_gb: 180.0, egress_gb_month: 2500.0 }).unwrap();
        assert_eq!(q.instance, "small");
        assert!((q.storage_eur - 7.0).abs() < 1e-9 && (q.egress_eur - 15.0).abs() < 1e-9 && (q.total_eur - 27.0).abs() < 1e-9, "{q:?}");
        assert_eq!(q.binding, Resource::Egress);
    }

    #[test]
    fn a_bigger_instance_is_chosen_when_its_bill_is_lower() {
        let p = providers();
        // small: 5 + 19,000 × 0.01 = 195; big: 40 + 0 = 40.
        let q = quote(&p.providers[0], &Need { vcpu: 1.0, ram_gb: 2.0, disk_gb: 10.0, egress_gb_month: 20_000.0 }).unwrap();
        assert_eq!((q.instance.as_str(), q.total_eur), ("big", 40.0));
        assert_eq!(q.binding, Resource::Cpu);
    }

    #[test]
    fn ram_binds_when_it_fills_more_of_the_machine() {
        let p = providers();
        let q = quote(&p.providers[0], &Need { vcpu: 2.0, ram_gb: 30.0, disk_gb: 10.0, egress_gb_month: 0.0 }).unwrap();
        assert_eq!((q.instance.as_str(), q.binding), ("big", Resource::Ram));
    }

    #[test]
    fn what_cannot_fit_says_why() {
        let p = providers();
        let e = quote(&p.providers[0], &Need { vcpu: 16.0, ram_gb: 2.0, disk_gb: 1.0, egress_gb_month: 0.0 }).unwrap_err();
        assert!(e.to_string().contains("largest: big with 8 vCPU"), "{e}");
        let e = quote(&p.providers[1], &Need { vcpu: 1.0, ram_gb: 1.0, disk_gb: 500.0, egress_gb_month: 0.0 }).unwrap_err();
        assert_eq!(e, NoFit::NoStorage { disk_gb: 500.0 });
        let e = quote(&p.providers[1], &Need { vcpu: 1.0, ram_gb: 1.0, disk_gb: 50.0, egress_gb_month: 10.0 }).unwrap_err();
        assert_eq!(e, NoFit::NoEgressPrice { egress_gb: 10.0 });
    }
}
