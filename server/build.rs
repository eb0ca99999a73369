//! `sqlx::migrate!` embeds `migrations/` when the crate compiles, and cargo
//! does not know it reads them: without this, a migration added or edited
//! alone leaves a binary that applies the old set.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
