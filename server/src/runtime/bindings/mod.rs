//! Host bindings generated from `job-sdk/wit/`, the single definition of the
//! job contract: the current version, and each version published before it,
//! so that components built against an older SDK keep running. `component`
//! hides which version a component was built against from the rest of the
//! runtime.

mod component;

pub use component::{Entry, GuestError, JobComponentPre, JobInstance, Problem, SUPPORTED_WORLDS};

/// `jobserver:job@0.2.0`, the version today's SDK builds against.
pub mod current {
    wasmtime::component::bindgen!({
        world: "job-component",
        path: "../job-sdk/wit",
        imports: {
            // These await the database or a cluster.
            "jobserver:job/named-objects": async,
            // Trappable: a handle the job holds that the host no longer
            // knows is a bug to trap on, not an error for the job to handle.
            "jobserver:job/kafka": async | trappable,
            "jobserver:job/cassandra": async | trappable,
        },
        exports: { default: async },
        with: {
            "jobserver:job/kafka.reader": crate::runtime::host::kafka::ReaderHandle,
            "jobserver:job/kafka.producer": crate::runtime::host::kafka::ProducerHandle,
            "jobserver:job/cassandra.session": crate::runtime::host::cassandra::SessionHandle,
            "jobserver:job/cassandra.pager": crate::runtime::host::cassandra::PagerHandle,
        },
    });
}

/// `jobserver:job@0.1.0`, as published: log, progress and named objects, and
/// a `run` whose error is a bare message.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "job-component",
        path: "../job-sdk/wit/published/0.1.0",
        imports: {
            "jobserver:job/named-objects": async,
        },
        exports: { default: async },
    });
}
