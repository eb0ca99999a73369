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

pub use self::exports::jobserver::job::job::Problem;
pub use self::jobserver::job::log::Level;
pub use self::jobserver::job::types::Entry;
