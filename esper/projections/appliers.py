"""How each event type lands in the tables: SQL over one Arrow batch of that type.

The batch is registered as ``b``: the event's own columns (as ``esper.codec`` decodes them to
Arrow) plus ``_topic``, ``_partition``, ``_offset``, ``_logged_at`` (the record's Kafka
timestamp) and ``_key``. Current-state upserts are written so that event types commute (each
sets only what it knows), and each batch is reduced to the last event per key first: DuckDB's
``ON CONFLICT DO UPDATE`` keeps the *first* row when a batch holds a key twice.
"""

from __future__ import annotations

APPEND_FIELDS = "meta.occurred_at AS occurred_at, meta.event_id AS event_id"

STATEMENTS: dict[str, list[str]] = {
    "esper.telemetry.HealthSignal": [
        """INSERT INTO health_signals
           SELECT meta.run_id, layer_id, seed_id, chunk_id, epoch, activation_variance,
                  dead_neuron_ratio, avg_correlation, gradient_norm, is_ready_for_transition,
                  health_score, execution_latency, error_count, active_seeds, total_seeds,
                  "timestamp", meta.occurred_at, meta.event_id
           FROM b""",
    ],
    "esper.telemetry.TelemetryDropped": [
        """INSERT INTO telemetry_drops
           SELECT meta.run_id, window_start, window_end, reason, d.topic, d.event_type, d.count,
                  meta.event_id
           FROM (SELECT *, unnest(drops) AS d FROM b)""",
    ],
    "esper.training.TrainingRunStarted": [
        """INSERT INTO runs (run_id, name, model_name, started_at, status, model_config,
                            training_config)
           SELECT meta.run_id, session.name, topology.model_name, meta.occurred_at, 'running',
                  to_json(session.training_model_config), to_json(session.training_config)
           FROM b QUALIFY row_number() OVER (PARTITION BY meta.run_id ORDER BY _offset DESC) = 1
           ON CONFLICT (run_id) DO UPDATE SET
               name = excluded.name, model_name = excluded.model_name,
               started_at = excluded.started_at, model_config = excluded.model_config,
               training_config = excluded.training_config""",
        """INSERT OR REPLACE INTO host_layers
           SELECT run_id, l.layer_id, l.name, l.layer_type, l.input_shape, l.output_shape,
                  l.parameter_count, l.seed_slots
           FROM (SELECT meta.run_id AS run_id, unnest(topology.layers) AS l
                 FROM b QUALIFY row_number() OVER (PARTITION BY meta.run_id
                                                   ORDER BY _offset DESC) = 1)""",
    ],
    "esper.training.TrainingRunCompleted": [
        """INSERT INTO runs (run_id, completed_at, status, epochs_completed, final_val_accuracy,
                            final_val_loss, total_parameters, seeds_fossilized, seeds_culled,
                            duration_seconds, error)
           SELECT meta.run_id, meta.occurred_at, status, epochs_completed, final_val_accuracy,
                  final_val_loss, total_parameters, seeds_fossilized, seeds_culled,
                  duration_seconds, error
           FROM b QUALIFY row_number() OVER (PARTITION BY meta.run_id ORDER BY _offset DESC) = 1
           ON CONFLICT (run_id) DO UPDATE SET
               completed_at = excluded.completed_at, status = excluded.status,
               epochs_completed = excluded.epochs_completed,
               final_val_accuracy = excluded.final_val_accuracy,
               final_val_loss = excluded.final_val_loss,
               total_parameters = excluded.total_parameters,
               seeds_fossilized = excluded.seeds_fossilized,
               seeds_culled = excluded.seeds_culled,
               duration_seconds = excluded.duration_seconds, error = excluded.error""",
    ],
    "esper.training.EpochCompleted": [
        f"""INSERT INTO epochs
            SELECT meta.run_id, epoch, system_state.training_loss, system_state.validation_loss,
                   train_accuracy, val_accuracy, parameter_count, system_state.active_seeds,
                   system_state.total_seeds, duration_seconds, {APPEND_FIELDS}
            FROM b""",
        """INSERT INTO system_state
           SELECT meta.run_id, epoch, system_state.total_seeds, system_state.active_seeds,
                  system_state.training_loss, system_state.validation_loss,
                  system_state.system_load, system_state.memory_usage, meta.occurred_at
           FROM b""",
    ],
    "esper.control.AdaptationDecision": [
        f"""INSERT INTO decisions
            SELECT decision_id, meta.run_id, layer_name, layer_id, adaptation_type, slot_index,
                   blueprint_id, confidence, urgency, policy_name, policy_version,
                   to_json(features), to_json(metadata), {APPEND_FIELDS}, meta.causation_id
            FROM b""",
    ],
    "esper.control.KasminaControlCommand": [
        f"""INSERT INTO commands
            SELECT meta.run_id, command, layer_id, slot_index, blueprint_id, kernel_id, alpha,
                   reason, decision_id, {APPEND_FIELDS}, meta.causation_id
            FROM b""",
    ],
    "esper.control.PolicyUpdated": [
        f"""INSERT INTO policies
            SELECT policy_name, policy_version, artifact_ref, checksum, to_json(metrics),
                   {APPEND_FIELDS}
            FROM b""",
    ],
    "esper.compilation.BlueprintSubmitted": [
        """INSERT INTO blueprints (blueprint_id, name, description, state, architecture,
                                  hyperparameters, created_by, submitted_by, submitted_at,
                                  updated_at)
           SELECT blueprint_id, blueprint.name, blueprint.description, blueprint.state,
                  to_json(blueprint.architecture), to_json(blueprint.hyperparameters),
                  blueprint.created_by, submitted_by, meta.occurred_at, meta.occurred_at
           FROM b QUALIFY row_number() OVER (PARTITION BY blueprint_id ORDER BY _offset DESC) = 1
           ON CONFLICT (blueprint_id) DO UPDATE SET
               name = excluded.name, description = excluded.description,
               architecture = excluded.architecture, hyperparameters = excluded.hyperparameters,
               created_by = excluded.created_by, submitted_by = excluded.submitted_by,
               submitted_at = excluded.submitted_at""",
    ],
    "esper.compilation.BlueprintStateChanged": [
        """INSERT INTO blueprints (blueprint_id, state, updated_at, last_reason, kernel_id)
           SELECT blueprint_id, to_state, meta.occurred_at, reason, kernel_id
           FROM b QUALIFY row_number() OVER (PARTITION BY blueprint_id ORDER BY _offset DESC) = 1
           ON CONFLICT (blueprint_id) DO UPDATE SET
               state = excluded.state, updated_at = excluded.updated_at,
               last_reason = excluded.last_reason,
               kernel_id = coalesce(excluded.kernel_id, blueprints.kernel_id)""",
    ],
    "esper.compilation.KernelReady": [
        """INSERT INTO kernels
           SELECT kernel.kernel_id, kernel.blueprint_id, kernel.metadata.name, kernel.status,
                  kernel.metadata.input_shape, kernel.metadata.output_shape,
                  kernel.metadata.parameter_count, kernel.metadata.memory_footprint_mb,
                  kernel.metadata.compilation_target, kernel.metadata.compatibility_version,
                  kernel.binary_ref, kernel.metadata.checksum,
                  to_json(kernel.metadata.performance_profile),
                  to_json(kernel.validation_results), kernel.created_at,
                  count(*) OVER (PARTITION BY kernel.kernel_id), decision_id
           FROM b QUALIFY row_number() OVER (PARTITION BY kernel.kernel_id
                                             ORDER BY _offset DESC) = 1
           ON CONFLICT (kernel_id) DO UPDATE SET
               status = excluded.status,
               ready_events = kernels.ready_events + excluded.ready_events,
               last_decision_id = coalesce(excluded.last_decision_id, kernels.last_decision_id)""",
    ],
    "esper.compilation.CompilationFailed": [
        f"""INSERT INTO compilation_failures
            SELECT blueprint_id, decision_id, compiler_version, error_type, message,
                   {APPEND_FIELDS}
            FROM b""",
    ],
    "esper.validation.KernelCharacterized": [
        f"""INSERT INTO characterizations
            SELECT kernel_id, blueprint_id, device, batch_size, latency_ms, memory_mb,
                   to_json(metrics), {APPEND_FIELDS}
            FROM b""",
    ],
    "esper.innovation.FieldReport": [
        f"""INSERT INTO field_reports
            SELECT meta.run_id, layer_id, slot_index, seed_id, blueprint_id, kernel_id,
                   final_state, accuracy_with_seed, accuracy_without_seed,
                   accuracy_with_seed - accuracy_without_seed, parameters_added, epochs_active,
                   {APPEND_FIELDS}, meta.causation_id
            FROM b""",
    ],
}
"""SeedStateChanged is not here: its transitions are checked one by one (see lifecycle.py)."""


OWN_ROW_PAYLOADS = {"esper.telemetry.HealthSignal"}
"""Event types whose whole content is one row of their own table (HealthSignal: the row of
``health_signals`` with the same event_id). Their ``events`` row carries the envelope only:
they are most of the log, and a JSON copy would cost more than all their other writes."""


def events_statement(event_type: str, columns: list[str]) -> str:
    """Every event into ``events``: its envelope, and its own fields as one JSON payload."""
    if event_type in OWN_ROW_PAYLOADS:
        payload = "NULL"
    else:
        payload = "to_json(struct_pack({}))".format(", ".join(f'"{c}" := "{c}"' for c in columns))
    short_type = event_type.rsplit(".", 1)[-1]
    return f"""INSERT INTO events
               SELECT _topic, _partition, _offset, '{short_type}', meta.event_id, meta.run_id,
                      meta.correlation_id, meta.causation_id, meta.source, meta.occurred_at,
                      _logged_at, {payload}
               FROM b"""
