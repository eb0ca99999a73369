//! Host bindings generated from `job-sdk/wit/`, the single definition of the
//! job contract.

wasmtime::component::bindgen!({
    world: "job-component",
    path: "../job-sdk/wit",
    imports: {
        // Named objects live in Postgres: the host awaits the database.
        "jobserver:job/named-objects": async,
    },
    exports: { default: async },
});

pub use exports::jobserver::job::job::Problem;
pub use jobserver::job::log::Level;
pub use jobserver::job::types::Entry;
