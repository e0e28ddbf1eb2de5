//! The policy tables in ARCHITECTURE.md are the ones the code runs. Run with
//! `SAMMEN_BLESS=1` to rewrite them from `policy::ACCESS` and `policy::DATA_RULES`.

const START: &str = "<!-- policy-tables:start (generated from sammen-domain/src/policy.rs) -->\n";
const END: &str = "<!-- policy-tables:end -->";

#[test]
fn architecture_md_holds_the_policy_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md");
    let doc = std::fs::read_to_string(path).expect("ARCHITECTURE.md");
    let (before, rest) = doc.split_once(START).expect("the start marker");
    let (current, after) = rest.split_once(END).expect("the end marker");
    let generated = sammen_domain::policy::rules_markdown();
    if std::env::var("SAMMEN_BLESS").as_deref() == Ok("1") {
        std::fs::write(path, format!("{before}{START}{generated}{END}{after}")).expect("write ARCHITECTURE.md");
        return;
    }
    assert_eq!(current, generated, "ARCHITECTURE.md's policy tables are out of date: run with SAMMEN_BLESS=1");
}
