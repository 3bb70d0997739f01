//! The conventions by which Jepsen's ops map onto Assay's: the steps, keys and table
//! imported ops get, and how a data model is chosen. Used by the importer, the
//! exporter and the checkers (which read a value-CAS or a key-value op back from its
//! step).

use crate::edn::syntax::{parse_value, scalar_string, Edn};

/// Invoke `step` prefix that marks a compare-and-set by value (see the module docs).
pub const CAS_VALUE_STEP_PREFIX: &str = "cas-value:";
/// The key given to a single-register history's ops (no `[k v]` tuples).
pub const SINGLE_REGISTER_KEY: &str = "register";
/// The `step` of a read in Assay's final-read phase (the reads lost writes are judged
/// against); imported `:final? true` reads get it too.
pub const FINAL_READ_STEP: &str = "final-read";
/// The `step` of an imported key-value op (Porcupine's `:get`, `:put`): its key is
/// checked under the key-value model, where `""` is the absent key's value.
pub const KV_STEP: &str = "kv";
/// The `step` of an imported key-value `:append` (string concatenation). Core's
/// `Op::Append` holds an integer list element, so the append is kept as an
/// `Op::Write` of the suffix with this step, and the checkers read it back as an append.
pub const KV_APPEND_STEP: &str = "kv-append";

/// An op imported under Porcupine's key-value model.
pub fn is_kv_step(step: &str) -> bool {
    step == KV_STEP || step == KV_APPEND_STEP
}

/// How imported ops are read: detected from the ops, or forced (`assay check --model
/// kv` / `--model cas-register`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataModel {
    /// `:get` / `:put`, and `:append` with a `:key`, are key-value ops; `:read` /
    /// `:write` / `:cas` a register; `:txn` and `:append [k e]` list-append.
    #[default]
    Detect,
    /// Porcupine's key-value model: `:get`/`:read`, `:put`/`:write`, `:append` (string
    /// concatenation), each on `:key` (or `[k v]`).
    KeyValue,
    /// Knossos' / etcd's cas-register: `:read`, `:write`, `:cas [old new]` only.
    CasRegister,
}

/// The table name given to imported ops.
pub const EDN_TABLE: &str = "jepsen";
/// The `step` given to imported ops other than value-CAS.
pub(crate) const IMPORTED_STEP: &str = "jepsen";

/// For an invoke step marking a value-CAS: the expected old value (`None`: absent).
pub fn cas_value_expected(step: &str) -> Option<Option<String>> {
    let rest = step.strip_prefix(CAS_VALUE_STEP_PREFIX)?;
    Some(match parse_value(rest) {
        Ok(Edn::Nil) => None,
        Ok(e) if e.is_scalar() => Some(scalar_string(&e)),
        _ => Some(rest.to_string()),
    })
}
