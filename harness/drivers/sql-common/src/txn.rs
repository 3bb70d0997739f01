//! The results the SQL drivers give for batches and transactions that cannot run as asked,
//! so both say the same thing in the same words.

use assay_core::{ErrorClass, Op, OpResult, OpValue};

/// A transaction may hold only single ops: the result for one that nests a batch or a
/// transaction, refused before anything is sent; `None` when every op is a single op.
pub fn refuse_nested(ops: &[Op]) -> Option<OpResult> {
    let (i, nested) = ops
        .iter()
        .enumerate()
        .find(|(_, op)| matches!(op, Op::Batch { .. } | Op::Txn { .. }))?;
    Some(OpResult::error(
        ErrorClass::InvalidRequest,
        format!(
            "txn op {i} is a {}: a transaction holds only single ops; list them directly",
            nested.kind()
        ),
    ))
}

/// The result of a batch op left unsent because an earlier one broke the connection.
pub fn not_sent_after_lost_connection(addr: &str) -> OpResult {
    OpResult::error(
        ErrorClass::Unavailable,
        format!("not sent: an earlier op of this batch lost the connection to {addr}"),
    )
}

/// The transaction's result when its op `i` failed with `failed` and it was rolled back.
pub fn rolled_back(i: usize, op: &Op, failed: OpResult) -> OpResult {
    let (class, message) = failed
        .error
        .map(|e| (e.class, e.message))
        .unwrap_or((ErrorClass::Other, "no error recorded".to_string()));
    OpResult::error(
        class,
        format!(
            "txn op {i} ({}) failed, transaction rolled back: {message}",
            op.kind()
        ),
    )
}

/// An empty transaction: nothing to run, nothing to send.
pub fn empty() -> OpResult {
    OpResult::ok(OpValue::Results(Vec::new()))
}
