//! Embeds the information cards (`content/cards/<id>.<lang>.md`) in the binary, so the
//! server needs no files beside it; edit a card and rebuild.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this")).join("content/cards");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".md"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out =
        String::from("/// Every card file: (file name, contents).\npub const CARD_FILES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
        let _ = writeln!(out, "    ({f:?}, include_str!({:?})),", dir.join(f).display().to_string());
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets this")).join("cards.rs");
    std::fs::write(dest, out).expect("write the card list");
}
