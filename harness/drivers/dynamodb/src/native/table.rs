//! Table definitions for the checks' scratch tables (keys, capacity mode, global secondary
//! indexes, stream) and the `table_modes` check: a table reports the capacity mode it was
//! created with.

use super::{clip, sdk_error, Check, CheckError, CheckResult};
use assay_core::NativeOutcome;
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableDescription,
};

/// A key attribute: its name and type.
pub(crate) type KeyAttr = (&'static str, ScalarAttributeType);

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Billing {
    OnDemand,
    Provisioned { read: i64, write: i64 },
}

#[derive(Clone, Debug)]
pub(crate) struct IndexDef {
    pub name: &'static str,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub projection: ProjectionType,
}

/// What a scratch table looks like.
#[derive(Clone, Debug)]
pub(crate) struct TableDef {
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub billing: Billing,
    pub indexes: Vec<IndexDef>,
    pub stream: Option<StreamViewType>,
}

fn built<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, CheckError> {
    r.map_err(|e| CheckError::Step(format!("CreateTable request not built ({what}): {e}")))
}

fn key_schema(
    hash: &KeyAttr,
    range: &Option<KeyAttr>,
) -> Result<Vec<KeySchemaElement>, CheckError> {
    let mut keys = vec![built(
        "hash key",
        KeySchemaElement::builder()
            .attribute_name(hash.0)
            .key_type(KeyType::Hash)
            .build(),
    )?];
    if let Some(range) = range {
        keys.push(built(
            "range key",
            KeySchemaElement::builder()
                .attribute_name(range.0)
                .key_type(KeyType::Range)
                .build(),
        )?);
    }
    Ok(keys)
}

impl TableDef {
    /// A table with only a string hash key, on demand.
    pub fn hash_only(hash: &'static str) -> Self {
        TableDef {
            hash: (hash, ScalarAttributeType::S),
            range: None,
            billing: Billing::OnDemand,
            indexes: Vec::new(),
            stream: None,
        }
    }

    fn throughput(&self) -> Result<Option<ProvisionedThroughput>, CheckError> {
        match self.billing {
            Billing::OnDemand => Ok(None),
            Billing::Provisioned { read, write } => Ok(Some(built(
                "provisioned throughput",
                ProvisionedThroughput::builder()
                    .read_capacity_units(read)
                    .write_capacity_units(write)
                    .build(),
            )?)),
        }
    }

    /// Adds this definition to a `CreateTable` request.
    pub fn request(
        &self,
        mut req: CreateTableFluentBuilder,
    ) -> Result<CreateTableFluentBuilder, CheckError> {
        // Every key attribute of the table and its indexes, defined once.
        let mut attrs: Vec<&KeyAttr> = vec![&self.hash];
        attrs.extend(&self.range);
        for index in &self.indexes {
            attrs.push(&index.hash);
            attrs.extend(&index.range);
        }
        let mut defined: Vec<&str> = Vec::new();
        for (name, kind) in attrs {
            if defined.contains(name) {
                continue;
            }
            defined.push(name);
            req = req.attribute_definitions(built(
                "attribute definition",
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(kind.clone())
                    .build(),
            )?);
        }
        req = req.set_key_schema(Some(key_schema(&self.hash, &self.range)?));
        let throughput = self.throughput()?;
        req = match &throughput {
            None => req.billing_mode(BillingMode::PayPerRequest),
            Some(t) => req
                .billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(t.clone()),
        };
        for index in &self.indexes {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(key_schema(&index.hash, &index.range)?))
                .projection(
                    Projection::builder()
                        .projection_type(index.projection.clone())
                        .build(),
                )
                .set_provisioned_throughput(throughput.clone())
                .build();
            req = req.global_secondary_indexes(built("index", gsi)?);
        }
        if let Some(view) = &self.stream {
            req = req.stream_specification(built(
                "stream specification",
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(view.clone())
                    .build(),
            )?);
        }
        Ok(req)
    }
}

pub(crate) async fn describe(
    check: &Check<'_>,
    name: &str,
) -> Result<TableDescription, CheckError> {
    let out = check
        .client()
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("DescribeTable {name}"), &e))?;
    out.table
        .ok_or_else(|| CheckError::Step(format!("DescribeTable {name} answered without a table")))
}

/// The billing mode a description reports. A table that never had a mode set reports no
/// `BillingModeSummary`; the documented default is PROVISIONED.
fn billing_mode(table: &TableDescription) -> (BillingMode, &'static str) {
    match table.billing_mode_summary().and_then(|b| b.billing_mode()) {
        Some(mode) => (mode.clone(), "BillingModeSummary"),
        None => (
            BillingMode::Provisioned,
            "no BillingModeSummary, the default",
        ),
    }
}

fn throughput_text(table: &TableDescription) -> String {
    match table.provisioned_throughput() {
        Some(t) => format!(
            "{}/{} RCU/WCU",
            t.read_capacity_units().unwrap_or(0),
            t.write_capacity_units().unwrap_or(0)
        ),
        None => "no ProvisionedThroughput".to_string(),
    }
}

/// Creates an on-demand and a provisioned table; each must describe itself as created.
pub(crate) async fn table_modes(check: &Check<'_>) -> CheckResult {
    let read = check.params.count("read_capacity") as i64;
    let write = check.params.count("write_capacity") as i64;
    let on_demand = check
        .create_table("on_demand", &TableDef::hash_only("pk"))
        .await?;
    let mut provisioned_def = TableDef::hash_only("pk");
    provisioned_def.billing = Billing::Provisioned { read, write };
    let provisioned = check.create_table("provisioned", &provisioned_def).await?;

    let od = describe(check, &on_demand).await?;
    let pv = describe(check, &provisioned).await?;
    let (od_mode, od_source) = billing_mode(&od);
    let (pv_mode, pv_source) = billing_mode(&pv);
    let pv_units = pv
        .provisioned_throughput()
        .map(|t| (t.read_capacity_units(), t.write_capacity_units()));
    let od_ok = od_mode == BillingMode::PayPerRequest;
    let pv_ok = pv_mode == BillingMode::Provisioned && pv_units == Some((Some(read), Some(write)));
    let od_line = format!(
        "on-demand table: {} ({od_source}), {}",
        od_mode.as_str(),
        throughput_text(&od)
    );
    let pv_line = format!(
        "provisioned {read}/{write} table: {} ({pv_source}), {}",
        pv_mode.as_str(),
        throughput_text(&pv)
    );
    let observed = match (od_ok, pv_ok) {
        (true, true) => format!(
            "DescribeTable reports PAY_PER_REQUEST for the on-demand table and PROVISIONED {read}/{write} for the provisioned one"
        ),
        _ => clip(&format!(
            "DescribeTable reports {od_line}; {pv_line} (documented: each as created)"
        )),
    };
    Ok(NativeOutcome::expect(od_ok && pv_ok, observed)
        .with_evidence(od_line)
        .with_evidence(pv_line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::BillingModeSummary;

    fn client() -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    #[test]
    fn key_attributes_shared_by_table_and_indexes_are_defined_once() {
        let mut def = TableDef::hash_only("pk");
        def.range = Some(("g", ScalarAttributeType::S));
        def.indexes = vec![IndexDef {
            name: "by_g",
            hash: ("g", ScalarAttributeType::S),
            range: Some(("pk", ScalarAttributeType::S)),
            projection: ProjectionType::KeysOnly,
        }];
        def.stream = Some(StreamViewType::NewAndOldImages);
        let req = def
            .request(client().create_table().table_name("t"))
            .unwrap();
        let names: Vec<&str> = req
            .get_attribute_definitions()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| a.attribute_name())
            .collect();
        assert_eq!(names, ["pk", "g"]);
        assert_eq!(req.get_billing_mode(), &Some(BillingMode::PayPerRequest));
        assert!(req.get_provisioned_throughput().is_none());
        let gsi = &req.get_global_secondary_indexes().as_deref().unwrap()[0];
        assert!(gsi.provisioned_throughput().is_none());
        assert_eq!(
            req.get_stream_specification()
                .as_ref()
                .and_then(|s| s.stream_view_type()),
            Some(&StreamViewType::NewAndOldImages)
        );
    }

    #[test]
    fn provisioned_tables_give_their_indexes_the_same_throughput() {
        let mut def = TableDef::hash_only("pk");
        def.billing = Billing::Provisioned { read: 5, write: 7 };
        def.indexes = vec![IndexDef {
            name: "by_g",
            hash: ("g", ScalarAttributeType::S),
            range: None,
            projection: ProjectionType::All,
        }];
        let req = def
            .request(client().create_table().table_name("t"))
            .unwrap();
        assert_eq!(req.get_billing_mode(), &Some(BillingMode::Provisioned));
        let table = req.get_provisioned_throughput().as_ref().unwrap();
        assert_eq!(
            (table.read_capacity_units(), table.write_capacity_units()),
            (5, 7)
        );
        let gsi = &req.get_global_secondary_indexes().as_deref().unwrap()[0];
        assert_eq!(gsi.provisioned_throughput(), Some(table));
    }

    #[test]
    fn a_missing_billing_mode_summary_is_the_documented_default() {
        let bare = TableDescription::builder().build();
        assert_eq!(billing_mode(&bare).0, BillingMode::Provisioned);
        let on_demand = TableDescription::builder()
            .billing_mode_summary(
                BillingModeSummary::builder()
                    .billing_mode(BillingMode::PayPerRequest)
                    .build(),
            )
            .build();
        assert_eq!(billing_mode(&on_demand).0, BillingMode::PayPerRequest);
    }
}
