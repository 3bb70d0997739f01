//! The null driver: answers every op at once, in process, with no I/O and no state. It
//! measures the engine itself (op loop, scheduling, recording) with nothing else in the way.

use assay_core::scenario::TableSpec;
use assay_core::{Capabilities, Capability, Driver, DriverError, Op, OpResult, OpValue};
use async_trait::async_trait;

#[derive(Clone, Copy, Debug, Default)]
pub struct NullDriver;

#[async_trait]
impl Driver for NullDriver {
    fn family(&self) -> &'static str {
        "null"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("").support(&Capability::ALL)
    }

    async fn setup(&self, _tables: &[TableSpec]) -> Result<(), DriverError> {
        Ok(())
    }

    async fn execute(&self, op: &Op) -> OpResult {
        OpResult::ok(match op {
            Op::Read { .. } => OpValue::Record(None),
            Op::Query { .. } => OpValue::Records(Vec::new()),
            Op::Increment { by, .. } => OpValue::Counter(*by),
            Op::Batch { .. } | Op::Txn { .. } => OpValue::Results(Vec::new()),
            _ => OpValue::None,
        })
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        Ok(())
    }
}
