//! Interchange with Jepsen: reads Jepsen/Elle EDN histories into Assay history events
//! and writes Assay histories as EDN, so a verdict here can be compared with Jepsen's
//! checkers (Knossos, Elle) on the same input.
//!
//! Input: one op map per line, or a single vector (or list) of op maps. Each map has
//! `:type` (`:invoke`, `:ok`, `:fail`, `:info`), `:f`, `:value`, `:process`, and optionally
//! `:time` (ns) and `:error`. Ops whose `:process` is not an integer (the nemesis) are
//! not checked but kept apart ([`EdnHistory::nemesis`]) for the timeline. A completion
//! pairs with its process's pending invoke; `:info` is indeterminate. The file is read
//! op by op ([`read_history`] takes any `BufRead`), so its size is bounded by its events,
//! not its text. Supported `:f`:
//! - `:read`, `:write`, `:cas` on one register (`:value 3`, `:value [1 2]` for cas), or
//!   on independent keys (`:value [k v]`, `:value [k [old new]]`, as jepsen.independent
//!   writes them); a single register gets the key [`SINGLE_REGISTER_KEY`];
//! - `:txn` with micro-ops `[:append k e]`, `[:r k v]`, `[:w k v]` (list-append and
//!   rw-register), `:append` with `[k e]`;
//! - Porcupine's key-value model: `:get`, `:put`, and `:append` with a `:key` (or a
//!   string value) and string values, append being concatenation ([`KV_STEP`],
//!   [`KV_APPEND_STEP`]); checked per key for linearizability only;
//! - Assay's own extensions, written by [`write_history`]: `:cas-version`
//!   (`[k [version new]]`) and `:delete` (`[k nil]`).
//!
//! [`DataModel`] forces one reading (`assay check --model kv` / `cas-register`).
//!
//! Modules: `syntax` (EDN values, reader, printer), `stream` (top-level forms from a
//! `BufRead`), `format` (the conventions shared with the checkers), `import`, `export`.
//!
//! Keys become strings (integers in decimal, keywords by name). Register values become
//! strings the same way, and are written back as integers when they read as one.
//!
//! Jepsen's `:cas [old new]` compares *values*; Assay's `compare_and_set` compares
//! versions. An imported value-CAS becomes `Op::CompareAndSet { expected_version: None,
//! value: new }` whose invoke `step` is `cas-value:` followed by the EDN of `old` (e.g.
//! `cas-value:3`, `cas-value:nil`); the checkers read it back as a value-CAS. Record
//! versions do not exist in EDN and are not written.

mod export;
mod format;
mod import;
mod stream;
mod syntax;

pub use export::write_history;
pub use format::*;
pub use import::{parse_history, parse_history_as, read_history, EdnHistory, NemesisOp};
pub use syntax::EdnError;

#[cfg(test)]
mod tests {
    use super::syntax::{parse_value, Edn};
    use super::*;
    use assay_core::{HistoryEvent, Op, OpMeta, OpValue, Outcome};

    #[test]
    fn reader_handles_edn_syntax() {
        let e = parse_value(
            r#"{:a [1 -2 3.5 "x\"y" \c nil true] :b #{:k} ; comment
            :c (sym #_ ignored 7N) :d #inst "2020"}"#,
        )
        .unwrap();
        assert_eq!(e.get("a").unwrap().items().unwrap().len(), 7);
        assert_eq!(
            e.get("a").unwrap().items().unwrap()[3],
            Edn::Str("x\"y".into())
        );
        assert_eq!(
            e.get("c").unwrap().items().unwrap(),
            &[Edn::Symbol("sym".into()), Edn::Int(7)]
        );
        assert!(matches!(e.get("d"), Some(Edn::Tagged(t, _)) if t == "inst"));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse_history(
            "{:type :invoke, :f :read, :process 0}\n{:type :ok :f :read :value [1 2}\n",
        )
        .unwrap_err();
        assert_eq!((err.line, err.col), (2, 32), "{err}");
        assert!(err.message.contains("expected ']'"), "{err}");
        // A completion without an invoke is a completed-only history: invoked at time 0.
        let h = parse_history("{:type :ok, :f :read, :process 3, :value 1}").unwrap();
        assert!(
            matches!(h[0], HistoryEvent::Invoke { start_ns: 0, .. }),
            "{h:?}"
        );
        let err = parse_history("[{:type :invoke, :f :add, :process 0, :value 1}]").unwrap_err();
        assert!(err.message.contains("unsupported :f :add"), "{err}");
    }

    #[test]
    fn register_ops_pair_by_process_and_skip_the_nemesis() {
        let h = parse_history(
            "{:type :invoke, :f :write, :value 3, :process 0, :time 10}
             {:type :info, :f :start, :process :nemesis}
             {:type :invoke, :f :cas, :value [3 4], :process 1, :time 11}
             {:type :ok, :f :write, :value 3, :process 0, :time 20}
             {:type :info, :f :cas, :value [3 4], :process 1, :time 30, :error :timeout}",
        )
        .unwrap();
        assert_eq!(h.len(), 4);
        match &h[1] {
            HistoryEvent::Invoke {
                op: Op::CompareAndSet { key, value, .. },
                step,
                client,
                ..
            } => {
                assert_eq!(
                    (key.as_str(), value.as_str(), *client),
                    (SINGLE_REGISTER_KEY, "4", 1)
                );
                assert_eq!(cas_value_expected(step), Some(Some("3".to_string())));
            }
            other => panic!("{other:?}"),
        }
        match &h[3] {
            HistoryEvent::Complete {
                outcome,
                error,
                end_ns,
                ..
            } => {
                assert_eq!(*outcome, Outcome::Indeterminate);
                assert_eq!(error.as_deref(), Some(":timeout"));
                assert_eq!(*end_ns, 30);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_append_txns_round_trip() {
        let src = r#"[{:type :invoke, :process 0, :f :txn, :value [[:append 1 2] [:r 1 nil] [:w "x" 5]]}
                    {:type :ok, :process 0, :f :txn, :value [[:append 1 2] [:r 1 [1 2]] [:w "x" 5]]}]"#;
        let h = parse_history(src).unwrap();
        match &h[1] {
            HistoryEvent::Complete {
                value: OpValue::Results(r),
                ..
            } => {
                assert_eq!(r.len(), 3);
                match &r[1].value {
                    OpValue::Record(Some(rec)) => assert_eq!(
                        (rec.key.as_str(), rec.list.as_deref()),
                        ("1", Some(&[1, 2][..]))
                    ),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        let text = write_history(&h);
        assert!(
            text.contains(":value [[:append 1 2] [:r 1 [1 2]] [:w \"x\" 5]]"),
            "{text}"
        );
        assert_eq!(parse_history(&text).unwrap(), h);
    }

    #[test]
    fn assay_only_ops_are_written_as_extensions_or_left_out() {
        let inv = |op_id, op| HistoryEvent::Invoke {
            op_id,
            client: 0,
            step: "s".into(),
            op,
            intended_start_ns: op_id,
            start_ns: op_id,
        };
        let ok = |op_id| HistoryEvent::Complete {
            op_id,
            client: 0,
            outcome: Outcome::Ok,
            value: OpValue::None,
            error_class: None,
            error: None,
            meta: OpMeta::default(),
            end_ns: op_id + 1,
        };
        let h = vec![
            inv(
                0,
                Op::CompareAndSet {
                    table: "t".into(),
                    key: "k".into(),
                    expected_version: Some(2),
                    value: "v".into(),
                },
            ),
            ok(0),
            inv(
                2,
                Op::Increment {
                    table: "t".into(),
                    key: "k".into(),
                    by: 1,
                },
            ),
            ok(2),
        ];
        let text = write_history(&h);
        assert!(
            text.contains(":f :cas-version, :value [\"k\" [2 \"v\"]]"),
            "{text}"
        );
        assert!(
            text.contains("; op 2 (increment) has no EDN form"),
            "{text}"
        );
        let back = parse_history(&text).unwrap();
        assert!(matches!(
            &back[0],
            HistoryEvent::Invoke {
                op: Op::CompareAndSet {
                    expected_version: Some(2),
                    ..
                },
                ..
            }
        ));
        assert_eq!(back.len(), 2);
    }
}
