//! The portable table layout as DynamoDB items: attribute names, item ↔ `Record`, and each
//! mutating op as an update/put/delete specification that can be sent on its own or as one
//! element of `TransactWriteItems`.

use assay_core::{Op, Record};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(crate) const KEY: &str = "k";
pub(crate) const VALUE: &str = "v";
pub(crate) const VERSION: &str = "ver";
pub(crate) const COUNTER: &str = "n";
pub(crate) const LIST: &str = "l";

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn key_item(key: &str) -> Item {
    HashMap::from([(KEY.to_string(), AttributeValue::S(key.to_string()))])
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// Reads an item of the portable layout. Absent attributes stay `None`; an attribute of the
/// wrong type is an error naming the key and the attribute.
pub(crate) fn record_from_item(item: &Item) -> Result<Record, String> {
    let key = match item.get(KEY) {
        Some(AttributeValue::S(k)) => k.clone(),
        other => return Err(format!("item has no string key `{KEY}` (found {other:?})")),
    };
    let bad = |attr: &str, found: &AttributeValue| {
        format!("item `{key}`: attribute `{attr}` has an unexpected type or value ({found:?})")
    };
    let value = match item.get(VALUE) {
        None | Some(AttributeValue::Null(_)) => None,
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(other) => return Err(bad(VALUE, other)),
    };
    let version = match item.get(VERSION) {
        None => None,
        Some(AttributeValue::N(n)) => Some(n.parse::<u64>().map_err(|_| bad(VERSION, &number(n)))?),
        Some(other) => return Err(bad(VERSION, other)),
    };
    let counter = match item.get(COUNTER) {
        None => None,
        Some(AttributeValue::N(n)) => Some(n.parse::<i64>().map_err(|_| bad(COUNTER, &number(n)))?),
        Some(other) => return Err(bad(COUNTER, other)),
    };
    let list = match item.get(LIST) {
        None => None,
        Some(AttributeValue::L(elements)) => {
            let mut list = Vec::with_capacity(elements.len());
            for e in elements {
                match e {
                    AttributeValue::N(n) => list.push(n.parse::<i64>().map_err(|_| bad(LIST, e))?),
                    other => return Err(bad(LIST, other)),
                }
            }
            Some(list)
        }
        Some(other) => return Err(bad(LIST, other)),
    };
    Ok(Record {
        key,
        value,
        version,
        counter,
        list,
    })
}

/// The counter after an `ADD` with `ReturnValues=UPDATED_NEW`.
pub(crate) fn counter_from_attributes(attributes: Option<&Item>) -> Option<i64> {
    match attributes?.get(COUNTER)? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum MutationKind {
    Update { expression: &'static str },
    Put { item: Item },
    Delete,
}

/// One mutating op in DynamoDB terms. Expression attribute names are always used (`#v`)
/// so no portable attribute name can collide with a DynamoDB reserved word, and only the
/// names and values an expression uses are sent (DynamoDB rejects unused ones).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mutation {
    pub kind: MutationKind,
    pub logical_table: String,
    pub key: String,
    pub condition: Option<&'static str>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    /// `ReturnValues=UPDATED_NEW` to report the counter (increment only).
    pub returns_counter: bool,
    /// Safe to re-send after an attempt that may have been applied.
    pub idempotent: bool,
}

fn names(list: &[&str]) -> HashMap<String, String> {
    list.iter()
        .map(|n| (format!("#{n}"), (*n).to_string()))
        .collect()
}

impl Mutation {
    /// `None` for ops that are not single-row mutations (read, query, batch, txn).
    pub fn for_op(op: &Op) -> Option<Mutation> {
        let base = |table: &str, key: &str, kind: MutationKind| Mutation {
            kind,
            logical_table: table.to_string(),
            key: key.to_string(),
            condition: None,
            names: HashMap::new(),
            values: HashMap::new(),
            returns_counter: false,
            idempotent: false,
        };
        let m = match op {
            Op::Write { table, key, value } => Mutation {
                names: names(&[VALUE, VERSION]),
                values: HashMap::from([
                    (":v".to_string(), AttributeValue::S(value.clone())),
                    (":zero".to_string(), number(0)),
                    (":one".to_string(), number(1)),
                ]),
                ..base(
                    table,
                    key,
                    MutationKind::Update {
                        expression: "SET #v = :v, #ver = if_not_exists(#ver, :zero) + :one",
                    },
                )
            },
            Op::InsertIfAbsent { table, key, value } => {
                let mut item = key_item(key);
                item.insert(VALUE.to_string(), AttributeValue::S(value.clone()));
                item.insert(VERSION.to_string(), number(1));
                Mutation {
                    condition: Some("attribute_not_exists(#k)"),
                    names: names(&[KEY]),
                    ..base(table, key, MutationKind::Put { item })
                }
            }
            Op::CompareAndSet {
                table,
                key,
                expected_version,
                value,
            } => {
                let v = (":v".to_string(), AttributeValue::S(value.clone()));
                let one = (":one".to_string(), number(1));
                match expected_version {
                    None => Mutation {
                        condition: Some("attribute_not_exists(#k)"),
                        names: names(&[KEY, VALUE, VERSION]),
                        values: HashMap::from([v, one]),
                        ..base(
                            table,
                            key,
                            MutationKind::Update {
                                expression: "SET #v = :v, #ver = :one",
                            },
                        )
                    },
                    // A row written only by increment/append has no `ver`; it counts as 0,
                    // as it does for `Write`.
                    Some(0) => Mutation {
                        condition: Some(
                            "attribute_exists(#k) AND (attribute_not_exists(#ver) OR #ver = :zero)",
                        ),
                        names: names(&[KEY, VALUE, VERSION]),
                        values: HashMap::from([v, one, (":zero".to_string(), number(0))]),
                        ..base(
                            table,
                            key,
                            MutationKind::Update {
                                expression: "SET #v = :v, #ver = if_not_exists(#ver, :zero) + :one",
                            },
                        )
                    },
                    Some(expected) => Mutation {
                        condition: Some("#ver = :expected"),
                        names: names(&[VALUE, VERSION]),
                        values: HashMap::from([
                            v,
                            one,
                            (":expected".to_string(), number(*expected)),
                        ]),
                        ..base(
                            table,
                            key,
                            MutationKind::Update {
                                expression: "SET #v = :v, #ver = #ver + :one",
                            },
                        )
                    },
                }
            }
            Op::Delete { table, key } => Mutation {
                idempotent: true,
                ..base(table, key, MutationKind::Delete)
            },
            Op::Increment { table, key, by } => Mutation {
                names: names(&[COUNTER]),
                values: HashMap::from([(":by".to_string(), number(*by))]),
                returns_counter: true,
                ..base(
                    table,
                    key,
                    MutationKind::Update {
                        expression: "ADD #n :by",
                    },
                )
            },
            Op::Append {
                table,
                key,
                element,
            } => Mutation {
                names: names(&[LIST]),
                values: HashMap::from([
                    (":empty".to_string(), AttributeValue::L(Vec::new())),
                    (":el".to_string(), AttributeValue::L(vec![number(*element)])),
                ]),
                ..base(
                    table,
                    key,
                    MutationKind::Update {
                        expression: "SET #l = list_append(if_not_exists(#l, :empty), :el)",
                    },
                )
            },
            Op::Read { .. } | Op::Query { .. } | Op::Batch { .. } | Op::Txn { .. } => return None,
        };
        Some(m)
    }

    /// The DynamoDB operation name, for messages.
    pub fn operation(&self) -> &'static str {
        match self.kind {
            MutationKind::Update { .. } => "UpdateItem",
            MutationKind::Put { .. } => "PutItem",
            MutationKind::Delete => "DeleteItem",
        }
    }

    /// `None` instead of an empty map: DynamoDB rejects empty expression maps.
    pub fn names_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values_or_none(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn full_item_reads_back_as_a_record() {
        let r = record_from_item(&item(&[
            (KEY, AttributeValue::S("a".into())),
            (VALUE, AttributeValue::S("x".into())),
            (VERSION, number(3)),
            (COUNTER, number(-2)),
            (LIST, AttributeValue::L(vec![number(1), number(2)])),
        ]))
        .unwrap();
        assert_eq!(
            r,
            Record {
                key: "a".into(),
                value: Some("x".into()),
                version: Some(3),
                counter: Some(-2),
                list: Some(vec![1, 2]),
            }
        );
    }

    #[test]
    fn absent_attributes_are_none_and_wrong_types_are_errors() {
        let r = record_from_item(&item(&[(KEY, AttributeValue::S("a".into()))])).unwrap();
        assert_eq!(r.value, None);
        assert_eq!(r.version, None);
        let err = record_from_item(&item(&[
            (KEY, AttributeValue::S("a".into())),
            (VERSION, AttributeValue::S("three".into())),
        ]))
        .unwrap_err();
        assert!(err.contains("`ver`"), "{err}");
        assert!(record_from_item(&item(&[])).is_err());
    }

    #[test]
    fn every_placeholder_an_expression_uses_is_defined_and_no_other() {
        let ops = [
            Op::Write {
                table: "t".into(),
                key: "k".into(),
                value: "v".into(),
            },
            Op::InsertIfAbsent {
                table: "t".into(),
                key: "k".into(),
                value: "v".into(),
            },
            Op::CompareAndSet {
                table: "t".into(),
                key: "k".into(),
                expected_version: None,
                value: "v".into(),
            },
            Op::CompareAndSet {
                table: "t".into(),
                key: "k".into(),
                expected_version: Some(0),
                value: "v".into(),
            },
            Op::CompareAndSet {
                table: "t".into(),
                key: "k".into(),
                expected_version: Some(4),
                value: "v".into(),
            },
            Op::Delete {
                table: "t".into(),
                key: "k".into(),
            },
            Op::Increment {
                table: "t".into(),
                key: "k".into(),
                by: 2,
            },
            Op::Append {
                table: "t".into(),
                key: "k".into(),
                element: 7,
            },
        ];
        for op in &ops {
            let m = Mutation::for_op(op).unwrap();
            let text = format!(
                "{} {}",
                match &m.kind {
                    MutationKind::Update { expression } => expression,
                    _ => "",
                },
                m.condition.unwrap_or("")
            );
            let used = |sigil: char| -> std::collections::BTreeSet<String> {
                text.split(|c: char| !(c.is_alphanumeric() || c == sigil || c == '_'))
                    .filter(|w| w.starts_with(sigil))
                    .map(str::to_string)
                    .collect()
            };
            let names: std::collections::BTreeSet<_> = m.names.keys().cloned().collect();
            let values: std::collections::BTreeSet<_> = m.values.keys().cloned().collect();
            assert_eq!(used('#'), names, "{op:?}");
            assert_eq!(used(':'), values, "{op:?}");
        }
    }

    #[test]
    fn counter_comes_from_updated_new_attributes() {
        let attrs = item(&[(COUNTER, number(42))]);
        assert_eq!(counter_from_attributes(Some(&attrs)), Some(42));
        assert_eq!(counter_from_attributes(None), None);
    }
}
