//! The README's cost table is generated from the committed reference results, never typed:
//! it must be exactly the table in `results/cost.md`.

use std::path::Path;

use experiments::cost::table::{spliced, COST_MD_TITLE};

#[test]
fn the_readme_cost_table_is_the_reference_results_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let md = std::fs::read_to_string(root.join("results/cost.md")).expect("results/cost.md, the committed reference cost table");
    let table = md.strip_prefix(COST_MD_TITLE).expect("cost.md starts with its title");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = spliced(&readme).expect("README.md has a generated cost-table block");
    assert_eq!(
        block,
        table.trim(),
        "README.md's cost table is not results/cost.md's; regenerate both with \
         `experiments cost --results results --readme README.md`"
    );
}
