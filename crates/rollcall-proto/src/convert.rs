//! Every conversion between the wire types (protobuf) and the pure types
//! of `rollcall-core`, in one place: the meta server, the agent and the
//! binary convert at their edges with these and nowhere else.

use rollcall_core::{
    Beat, Code, ConfigKey, ConfigValue, Event, HeartbeatInput, HostCommand, HostMode,
    MetadataDelta, PartLeader, Proof, PropType, Property, Role, SchemaError, SchemaItem, SchemaKey,
    SchemaKind, Secret, Space, Status,
};

use crate::v1 as pb;

/// Wire role → core role (`None` for unspecified or unknown numbers).
pub fn role_from_pb(r: i32) -> Option<Role> {
    match pb::Role::try_from(r).ok()? {
        pb::Role::Storage => Some(Role::Storage),
        pb::Role::Graph => Some(Role::Graph),
        pb::Role::Meta => Some(Role::Meta),
        pb::Role::Unspecified => None,
    }
}

/// Core role → wire role.
pub fn role_to_pb(r: Option<Role>) -> pb::Role {
    match r {
        Some(Role::Storage) => pb::Role::Storage,
        Some(Role::Graph) => pb::Role::Graph,
        Some(Role::Meta) => pb::Role::Meta,
        None => pb::Role::Unspecified,
    }
}

/// Core code → wire code.
pub fn code_to_pb(c: Code) -> pb::Code {
    match c {
        Code::Ok => pb::Code::Ok,
        Code::WrongCluster => pb::Code::WrongCluster,
        Code::HostNotAdmitted => pb::Code::HostNotAdmitted,
        Code::InvalidArgument => pb::Code::InvalidArgument,
        Code::NotLeader => pb::Code::NotLeader,
        Code::UnknownHost => pb::Code::UnknownHost,
        Code::HostOnline => pb::Code::HostOnline,
        Code::StoreUnavailable => pb::Code::StoreUnavailable,
        Code::UnknownConfig => pb::Code::UnknownConfig,
        Code::Internal => pb::Code::Internal,
        Code::Unavailable => pb::Code::Unavailable,
        Code::SpaceExists => pb::Code::SpaceExists,
        Code::UnknownSpace => pb::Code::UnknownSpace,
        Code::PlacementFailed => pb::Code::PlacementFailed,
        Code::HostHasReplicas => pb::Code::HostHasReplicas,
        Code::JobRunning => pb::Code::JobRunning,
        Code::UnknownJob => pb::Code::UnknownJob,
        Code::NodeAuthFailed => pb::Code::NodeAuthFailed,
        Code::Unauthenticated => pb::Code::Unauthenticated,
        Code::PermissionDenied => pb::Code::PermissionDenied,
        Code::ResourceExhausted => pb::Code::ResourceExhausted,
        Code::UnknownToken => pb::Code::UnknownToken,
        Code::TokenExists => pb::Code::TokenExists,
        Code::SchemaExists => pb::Code::SchemaExists,
        Code::UnknownSchema => pb::Code::UnknownSchema,
        Code::GroupExists => pb::Code::GroupExists,
        Code::UnknownGroup => pb::Code::UnknownGroup,
        Code::GroupNotEmpty => pb::Code::GroupNotEmpty,
        Code::GroupConflict => pb::Code::GroupConflict,
    }
}

/// Wire code → core code (`None` for a number this build does not know).
pub fn code_from_pb(c: i32) -> Option<Code> {
    Code::ALL
        .into_iter()
        .find(|code| code_to_pb(*code) as i32 == c)
}

/// Core status → wire status.
pub fn status_to_pb(s: Status) -> pb::HostStatus {
    match s {
        Status::Unknown => pb::HostStatus::Unknown,
        Status::Online => pb::HostStatus::Online,
        Status::Offline => pb::HostStatus::Offline,
    }
}

/// A heartbeat request in core types.
pub fn beat_from_pb(req: pb::HeartbeatRequest) -> Beat {
    Beat {
        input: HeartbeatInput {
            cluster_id: req.cluster_id,
            node_id: req.node_id,
            role: role_from_pb(req.role),
            leader_count: req.leaders.len(),
            host: req.host,
            port: req.port,
            version: req.version,
            start_time_ms: req.start_time_ms,
            zone: req.zone,
            labels: req.labels.into_iter().collect(),
            ports: req.ports.into_iter().collect(),
            proof: Proof::from_wire(req.node_secret),
            join_token: Secret(req.join_token),
            // The transport fills it in.
            source: None,
        },
        metadata_version: req.metadata_version,
        leaders: req
            .leaders
            .into_iter()
            .map(|l| PartLeader {
                space: l.space,
                part: l.part,
                term: l.term,
            })
            .collect(),
    }
}

/// A heartbeat on the wire.
pub fn beat_to_pb(b: &Beat) -> pb::HeartbeatRequest {
    let i = &b.input;
    pb::HeartbeatRequest {
        cluster_id: i.cluster_id,
        node_id: i.node_id,
        host: i.host.clone(),
        port: i.port,
        role: role_to_pb(i.role) as i32,
        version: i.version.clone(),
        start_time_ms: i.start_time_ms,
        zone: i.zone.clone(),
        labels: i
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ports: i.ports.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        leaders: b
            .leaders
            .iter()
            .map(|l| pb::PartLeader {
                space: l.space.clone(),
                part: l.part,
                term: l.term,
            })
            .collect(),
        metadata_version: b.metadata_version,
        // The prober's own proof never goes on the wire.
        node_secret: match &i.proof {
            Proof::Secret(s) => s.0.clone(),
            Proof::None | Proof::Prober => String::new(),
        },
        join_token: i.join_token.0.clone(),
    }
}

/// A host command on the wire.
pub fn command_to_pb(c: HostCommand) -> pb::HostCommand {
    pb::HostCommand {
        id: c.id,
        kind: c.kind,
        args: c.args.into_iter().collect(),
    }
}

/// A host command from the wire.
pub fn command_from_pb(c: pb::HostCommand) -> HostCommand {
    HostCommand {
        id: c.id,
        kind: c.kind,
        args: c.args.into_iter().collect(),
    }
}

/// How `hosts add` asks the leader to reach the hosts; `Err` says what is
/// wrong with the request.
pub fn host_mode_from_pb(
    mode: &str,
    heartbeat_port: u32,
    framed: bool,
) -> Result<HostMode, String> {
    let port = u16::try_from(heartbeat_port).ok().filter(|p| *p != 0);
    match (mode, port) {
        ("" | "push", _) => Ok(HostMode::Push),
        ("pull", Some(heartbeat_port)) => Ok(HostMode::Pull {
            heartbeat_port,
            framed,
        }),
        ("both", Some(heartbeat_port)) => Ok(HostMode::Both {
            heartbeat_port,
            framed,
        }),
        ("pull" | "both", None) => Err(format!(
            "--mode {mode} needs --heartbeat-port (1 to 65535): the port the meta leader probes"
        )),
        (other, _) => Err(format!("mode {other:?} is not push, pull or both")),
    }
}

/// A core event on the wire.
pub fn event_to_pb(e: &Event) -> pb::Event {
    pb::Event {
        seq: e.seq,
        time_ms: e.time_ms,
        kind: e.kind.as_str().to_string(),
        host: e.host.clone(),
        port: e.port,
        node_id: e.node_id,
        role: role_to_pb(e.role) as i32,
        detail: e.detail.clone(),
    }
}

/// A space as agents get it in metadata.
pub fn space_to_pb(s: &Space) -> pb::SpaceInfo {
    pb::SpaceInfo {
        id: s.id,
        name: s.name.clone(),
        replicas: s.replicas,
        zones: s.zones.clone(),
        partitions: s
            .partitions
            .iter()
            .map(|r| pb::PartitionReplicas {
                node_ids: r.clone(),
            })
            .collect(),
        group: s.group.clone().unwrap_or_default(),
    }
}

/// A space from metadata.
pub fn space_from_pb(s: pb::SpaceInfo) -> Space {
    Space {
        id: s.id,
        name: s.name,
        replicas: s.replicas,
        zones: s.zones,
        partitions: s.partitions.into_iter().map(|p| p.node_ids).collect(),
        group: Some(s.group).filter(|g| !g.is_empty()),
    }
}

/// A tag or edge type on the wire.
pub fn schema_item_to_pb(i: &SchemaItem) -> pb::SchemaItemInfo {
    pb::SchemaItemInfo {
        space: i.key.space.clone(),
        kind: i.kind.as_str().to_string(),
        name: i.key.name.clone(),
        version: i.version,
        properties: i
            .properties
            .iter()
            .map(|p| pb::PropertyDef {
                name: p.name.clone(),
                r#type: p.ty.as_str().to_string(),
            })
            .collect(),
    }
}

/// Properties from the wire; the first that cannot be read is the error.
pub fn properties_from_pb(props: Vec<pb::PropertyDef>) -> Result<Vec<Property>, SchemaError> {
    props
        .into_iter()
        .map(|p| {
            Ok(Property {
                ty: PropType::parse(&p.r#type)?,
                name: p.name,
            })
        })
        .collect()
}

/// A tag or edge type from the wire, stamped `changed_at`; `None` if its
/// kind or a property type is unknown to this build (a newer server).
pub fn schema_item_from_pb(i: pb::SchemaItemInfo, changed_at: u64) -> Option<SchemaItem> {
    Some(SchemaItem {
        kind: SchemaKind::parse(&i.kind)?,
        key: SchemaKey {
            space: i.space,
            name: i.name,
        },
        version: i.version,
        properties: properties_from_pb(i.properties).ok()?,
        changed_at,
    })
}

/// A config entry on the wire.
pub fn config_to_pb((k, v): (ConfigKey, ConfigValue)) -> pb::ConfigEntry {
    pb::ConfigEntry {
        key: k.key,
        value: v.value,
        role: role_to_pb(k.role) as i32,
        version: v.version,
    }
}

/// A config entry from the wire (a role other than storage or graph
/// means every role).
pub fn config_from_pb(c: pb::ConfigEntry) -> (ConfigKey, ConfigValue) {
    let role = role_from_pb(c.role).filter(|r| *r != Role::Meta);
    (
        ConfigKey { key: c.key, role },
        ConfigValue {
            value: c.value,
            version: c.version,
        },
    )
}

/// A metadata delta as a `GetMetadata` answer (code OK).
pub fn delta_to_pb(d: MetadataDelta, epoch: u64) -> pb::GetMetadataResponse {
    pb::GetMetadataResponse {
        code: pb::Code::Ok as i32,
        message: String::new(),
        metadata_version: d.version,
        full: d.full,
        configs: d.configs.into_iter().map(config_to_pb).collect(),
        epoch,
        spaces_changed: d.spaces.is_some(),
        spaces: d
            .spaces
            .unwrap_or_default()
            .iter()
            .map(space_to_pb)
            .collect(),
        schema: d.schema.iter().map(schema_item_to_pb).collect(),
        schema_dropped: d
            .schema_dropped
            .into_iter()
            .map(|k| pb::SchemaKeyInfo {
                space: k.space,
                name: k.name,
            })
            .collect(),
    }
}

/// A `GetMetadata` answer as a delta for the agent's cache; an error
/// (naming what) when it holds a tag or edge type this build cannot read
/// (a newer server's kind or property type): the cache must then not move
/// to the answer's version, or that item would never be sent again.
pub fn delta_from_pb(r: pb::GetMetadataResponse) -> Result<MetadataDelta, String> {
    let mut schema = Vec::with_capacity(r.schema.len());
    for i in r.schema {
        let what = format!("{} {:?} of space {:?}", i.kind, i.name, i.space);
        match schema_item_from_pb(i, r.metadata_version) {
            Some(item) => schema.push(item),
            None => {
                return Err(format!(
                    "metadata version {} has a {what} this agent cannot read (a kind or \
                     property type from a newer meta server)",
                    r.metadata_version
                ))
            }
        }
    }
    Ok(MetadataDelta {
        version: r.metadata_version,
        full: r.full,
        spaces: r
            .spaces_changed
            .then(|| r.spaces.into_iter().map(space_from_pb).collect()),
        configs: r.configs.into_iter().map(config_from_pb).collect(),
        schema,
        schema_dropped: r
            .schema_dropped
            .into_iter()
            .map(|k| SchemaKey {
                space: k.space,
                name: k.name,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_and_role_round_trips() {
        for c in Code::ALL {
            assert_eq!(code_from_pb(code_to_pb(c) as i32), Some(c));
        }
        assert_eq!(code_from_pb(9_999), None);
        for r in [
            None,
            Some(Role::Storage),
            Some(Role::Graph),
            Some(Role::Meta),
        ] {
            assert_eq!(role_from_pb(role_to_pb(r) as i32), r);
        }
        assert_eq!(role_from_pb(77), None);
    }

    #[test]
    fn a_beat_and_a_delta_round_trip() {
        let b = Beat {
            input: HeartbeatInput {
                cluster_id: 3,
                node_id: 9,
                host: "h".into(),
                port: 1,
                role: Some(Role::Graph),
                version: "v".into(),
                start_time_ms: 5,
                zone: "z".into(),
                labels: [("a".to_string(), "b".to_string())].into_iter().collect(),
                ports: [("http".to_string(), 80)].into_iter().collect(),
                leader_count: 1,
                proof: Proof::Secret(Secret("rcn_x".into())),
                join_token: Secret("rct_j".into()),
                source: None,
            },
            metadata_version: 4,
            leaders: vec![PartLeader {
                space: "s".into(),
                part: 2,
                term: 7,
            }],
        };
        assert_eq!(beat_from_pb(beat_to_pb(&b)), b);
        let d = MetadataDelta {
            version: 8,
            full: false,
            configs: vec![(
                ConfigKey {
                    key: "k".into(),
                    role: Some(Role::Storage),
                },
                ConfigValue {
                    value: "v".into(),
                    version: 8,
                },
            )],
            spaces: Some(vec![Space {
                id: 1,
                name: "s".into(),
                replicas: 1,
                zones: vec![],
                partitions: vec![vec![9]],
                group: Some("t/c".into()),
            }]),
            schema: vec![SchemaItem {
                kind: SchemaKind::Edge,
                key: SchemaKey {
                    space: "s".into(),
                    name: "follow".into(),
                },
                version: 3,
                properties: vec![Property::parse("since:timestamp").unwrap()],
                changed_at: 8,
            }],
            schema_dropped: vec![SchemaKey {
                space: "s".into(),
                name: "gone".into(),
            }],
        };
        assert_eq!(delta_from_pb(delta_to_pb(d.clone(), 2)), Ok(d.clone()));
        // A property type this build does not know: the whole answer is
        // refused (the cache stays where it is), naming the item.
        let mut r = delta_to_pb(d.clone(), 2);
        r.schema[0].properties[0].r#type = "vector".into();
        let e = delta_from_pb(r).unwrap_err();
        assert!(e.contains("edge \"follow\""), "{e}");
    }
}
