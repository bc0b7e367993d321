"""The projection database: tables, views and the schema version.

Append-only tables hold one row per event; current-state tables (runs, seeds, blueprints,
kernels) are upserted. No column records when a row was projected, so a projection rebuilt by
replay is identical, row for row, to the live one.
"""

from __future__ import annotations

SCHEMA_VERSION = 3  # 2: health_signals.gradient_norm; 3: no HealthSignal payloads in events

TABLES = {
    "projection_meta": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL""",
    "projection_offsets": """
        topic VARCHAR NOT NULL,
        partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, partition)""",
    "events": """
        topic VARCHAR NOT NULL,
        partition INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        event_type VARCHAR NOT NULL,
        event_id VARCHAR NOT NULL,
        run_id VARCHAR,
        correlation_id VARCHAR NOT NULL,
        causation_id VARCHAR,
        source VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        logged_at TIMESTAMPTZ NOT NULL,
        payload JSON""",  # NULL for HealthSignals: their row of health_signals is the payload
    "runs": """
        run_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        model_name VARCHAR,
        started_at TIMESTAMPTZ,
        completed_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        epochs_completed BIGINT,
        final_val_accuracy DOUBLE,
        final_val_loss DOUBLE,
        total_parameters BIGINT,
        seeds_fossilized BIGINT,
        seeds_culled BIGINT,
        duration_seconds DOUBLE,
        error VARCHAR,
        model_config JSON,
        training_config JSON""",
    "host_layers": """
        run_id VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        name VARCHAR NOT NULL,
        layer_type VARCHAR NOT NULL,
        input_shape BIGINT[] NOT NULL,
        output_shape BIGINT[] NOT NULL,
        parameter_count BIGINT NOT NULL,
        seed_slots BIGINT NOT NULL,
        PRIMARY KEY (run_id, layer_id)""",
    "epochs": """
        run_id VARCHAR NOT NULL,
        epoch BIGINT NOT NULL,
        train_loss DOUBLE NOT NULL,
        val_loss DOUBLE NOT NULL,
        train_accuracy DOUBLE NOT NULL,
        val_accuracy DOUBLE NOT NULL,
        parameter_count BIGINT NOT NULL,
        active_seeds BIGINT NOT NULL,
        total_seeds BIGINT NOT NULL,
        duration_seconds DOUBLE NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL""",
    "system_state": """
        run_id VARCHAR NOT NULL,
        epoch BIGINT NOT NULL,
        total_seeds BIGINT NOT NULL,
        active_seeds BIGINT NOT NULL,
        training_loss DOUBLE NOT NULL,
        validation_loss DOUBLE NOT NULL,
        system_load DOUBLE NOT NULL,
        memory_usage DOUBLE NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL""",
    "health_signals": """
        run_id VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        slot_index BIGINT NOT NULL,
        chunk_id BIGINT NOT NULL,
        epoch BIGINT NOT NULL,
        activation_variance DOUBLE NOT NULL,
        dead_neuron_ratio DOUBLE NOT NULL,
        avg_correlation DOUBLE NOT NULL,
        gradient_norm DOUBLE,
        is_ready_for_transition BOOLEAN NOT NULL,
        health_score DOUBLE NOT NULL,
        execution_latency DOUBLE NOT NULL,
        error_count BIGINT NOT NULL,
        active_seeds BIGINT NOT NULL,
        total_seeds BIGINT NOT NULL,
        measured_at DOUBLE NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL""",
    "telemetry_drops": """
        run_id VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        reason VARCHAR NOT NULL,
        topic VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL,
        count BIGINT NOT NULL,
        event_id VARCHAR NOT NULL""",
    "decisions": """
        decision_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        layer_name VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        adaptation_type VARCHAR NOT NULL,
        slot_index BIGINT,
        blueprint_id VARCHAR,
        confidence DOUBLE NOT NULL,
        urgency DOUBLE NOT NULL,
        policy_name VARCHAR NOT NULL,
        policy_version BIGINT NOT NULL,
        features JSON NOT NULL,
        metadata JSON NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL,
        causation_id VARCHAR""",
    "commands": """
        run_id VARCHAR NOT NULL,
        command VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        slot_index BIGINT NOT NULL,
        blueprint_id VARCHAR,
        kernel_id VARCHAR,
        alpha DOUBLE,
        reason VARCHAR NOT NULL,
        decision_id VARCHAR,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL,
        causation_id VARCHAR""",
    "seed_transitions": """
        run_id VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        slot_index BIGINT NOT NULL,
        seed_id VARCHAR NOT NULL,
        from_state VARCHAR NOT NULL,
        to_state VARCHAR NOT NULL,
        blueprint_id VARCHAR,
        kernel_id VARCHAR,
        alpha DOUBLE NOT NULL,
        reason VARCHAR NOT NULL,
        epoch BIGINT NOT NULL,
        step BIGINT NOT NULL,
        applied BOOLEAN NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL,
        causation_id VARCHAR""",
    "seeds": """
        run_id VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        seed_id VARCHAR NOT NULL,
        slot_index BIGINT NOT NULL,
        state VARCHAR NOT NULL,
        blueprint_id VARCHAR,
        kernel_id VARCHAR,
        alpha DOUBLE NOT NULL,
        epoch BIGINT NOT NULL,
        step BIGINT NOT NULL,
        transitions BIGINT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (run_id, layer_id, seed_id)""",
    "blueprints": """
        blueprint_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        description VARCHAR,
        state VARCHAR NOT NULL,
        architecture JSON,
        hyperparameters JSON,
        created_by VARCHAR,
        submitted_by VARCHAR,
        submitted_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL,
        last_reason VARCHAR,
        kernel_id VARCHAR""",
    "kernels": """
        kernel_id VARCHAR PRIMARY KEY,
        blueprint_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        input_shape BIGINT[] NOT NULL,
        output_shape BIGINT[] NOT NULL,
        parameter_count BIGINT NOT NULL,
        memory_footprint_mb DOUBLE NOT NULL,
        compilation_target VARCHAR NOT NULL,
        compatibility_version VARCHAR NOT NULL,
        binary_ref VARCHAR NOT NULL,
        checksum VARCHAR,
        performance_profile JSON,
        validation_results JSON,
        created_at TIMESTAMPTZ NOT NULL,
        ready_events BIGINT NOT NULL,
        last_decision_id VARCHAR""",
    "compilation_failures": """
        blueprint_id VARCHAR NOT NULL,
        decision_id VARCHAR,
        compiler_version VARCHAR NOT NULL,
        error_type VARCHAR NOT NULL,
        message VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL""",
    "characterizations": """
        kernel_id VARCHAR NOT NULL,
        blueprint_id VARCHAR NOT NULL,
        device VARCHAR NOT NULL,
        batch_size BIGINT NOT NULL,
        latency_ms DOUBLE NOT NULL,
        memory_mb DOUBLE NOT NULL,
        metrics JSON NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL""",
    "field_reports": """
        run_id VARCHAR NOT NULL,
        layer_id BIGINT NOT NULL,
        slot_index BIGINT NOT NULL,
        seed_id VARCHAR NOT NULL,
        blueprint_id VARCHAR NOT NULL,
        kernel_id VARCHAR,
        final_state VARCHAR NOT NULL,
        accuracy_with_seed DOUBLE NOT NULL,
        accuracy_without_seed DOUBLE NOT NULL,
        effect DOUBLE NOT NULL,
        parameters_added BIGINT NOT NULL,
        epochs_active BIGINT NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL,
        causation_id VARCHAR""",
    "policies": """
        policy_name VARCHAR NOT NULL,
        policy_version BIGINT NOT NULL,
        artifact_ref VARCHAR NOT NULL,
        checksum VARCHAR NOT NULL,
        metrics JSON NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        event_id VARCHAR NOT NULL""",
    "dead_letters": """
        partition INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        key VARCHAR,
        source_topic VARCHAR,
        source_partition INTEGER,
        source_offset BIGINT,
        error_class VARCHAR,
        error_message VARCHAR,
        fingerprint VARCHAR,
        event_type VARCHAR,
        value BLOB NOT NULL,
        logged_at TIMESTAMPTZ NOT NULL""",
    "anomalies": """
        kind VARCHAR NOT NULL,
        topic VARCHAR NOT NULL,
        partition INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        run_id VARCHAR,
        event_id VARCHAR,
        detail VARCHAR NOT NULL""",
}

VIEWS = {
    # One row per run: how it went, and what grew in it.
    "run_summary": """
        SELECT r.run_id, r.name, r.model_name, r.status, r.started_at, r.completed_at,
               e.epochs, e.best_val_accuracy, e.last_val_accuracy, e.last_parameter_count,
               coalesce(s.germinated, 0) AS seeds_germinated,
               coalesce(s.fossilized, 0) AS seeds_fossilized,
               coalesce(s.culled, 0) AS seeds_culled,
               coalesce(d.decisions, 0) AS decisions
        FROM runs r
        LEFT JOIN (SELECT run_id, count(*) AS epochs, max(val_accuracy) AS best_val_accuracy,
                          arg_max(val_accuracy, epoch) AS last_val_accuracy,
                          arg_max(parameter_count, epoch) AS last_parameter_count
                   FROM epochs GROUP BY run_id) e USING (run_id)
        LEFT JOIN (SELECT run_id,
                          count(*) FILTER (WHERE to_state = 'germinated' AND applied) AS germinated,
                          count(*) FILTER (WHERE to_state = 'fossilized' AND applied) AS fossilized,
                          count(*) FILTER (WHERE to_state = 'culled' AND applied) AS culled
                   FROM seed_transitions GROUP BY run_id) s USING (run_id)
        LEFT JOIN (SELECT run_id, count(*) AS decisions FROM decisions GROUP BY run_id) d
               USING (run_id)""",
    # The dashboard's heatmap: mean health of each layer in each epoch.
    "layer_health_per_epoch": """
        SELECT h.run_id, h.epoch, h.layer_id, l.name AS layer_name,
               avg(h.health_score) AS health_score,
               avg(h.activation_variance) AS activation_variance,
               avg(h.dead_neuron_ratio) AS dead_neuron_ratio,
               avg(h.avg_correlation) AS avg_correlation,
               sum(h.error_count) AS errors, count(*) AS signals
        FROM health_signals h
        LEFT JOIN host_layers l USING (run_id, layer_id)
        GROUP BY ALL""",
    # Every applied transition of every seed, with how long the seed stayed in each state.
    "seed_timeline": """
        SELECT run_id, layer_id, slot_index, seed_id, from_state, to_state, blueprint_id,
               kernel_id, alpha, reason, epoch, step, occurred_at,
               lead(occurred_at) OVER w - occurred_at AS time_in_state
        FROM seed_transitions
        WHERE applied
        WINDOW w AS (PARTITION BY run_id, layer_id, seed_id ORDER BY occurred_at, step)""",
    # Decision → kernel → germinate command → seed → field report, joined by their ids.
    "decision_outcomes": """
        SELECT d.run_id, d.decision_id, d.occurred_at AS decided_at, d.layer_name, d.layer_id,
               d.slot_index, d.blueprint_id, d.confidence, d.policy_name, d.policy_version,
               c.kernel_id, c.occurred_at AS germinated_at, s.seed_id, s.state AS seed_state,
               f.final_state, f.effect, f.parameters_added, f.epochs_active
        FROM decisions d
        LEFT JOIN (SELECT * FROM commands WHERE command = 'germinate') c
               ON c.decision_id = d.decision_id AND c.run_id = d.run_id
        LEFT JOIN seed_transitions t
               ON t.run_id = d.run_id AND t.layer_id = d.layer_id
              AND t.to_state = 'germinated' AND t.causation_id = c.event_id AND t.applied
        LEFT JOIN seeds s ON s.run_id = t.run_id AND s.layer_id = t.layer_id
              AND s.seed_id = t.seed_id
        LEFT JOIN field_reports f ON f.run_id = t.run_id AND f.seed_id = t.seed_id""",
    # Which blueprints help: their seeds' outcomes and measured effects.
    "blueprint_leaderboard": """
        SELECT f.blueprint_id, b.name, count(*) AS seeds,
               count(*) FILTER (WHERE final_state = 'fossilized') AS fossilized,
               count(*) FILTER (WHERE final_state = 'culled') AS culled,
               avg(effect) AS mean_effect, max(effect) AS best_effect,
               avg(parameters_added) AS mean_parameters_added
        FROM field_reports f LEFT JOIN blueprints b USING (blueprint_id)
        GROUP BY ALL""",
    # Urza: every kernel with its blueprint, characterization and use.
    "kernel_library": """
        SELECT k.kernel_id, k.blueprint_id, b.name AS blueprint_name, b.state AS blueprint_state,
               k.status, k.input_shape, k.output_shape, k.parameter_count,
               k.memory_footprint_mb, k.compilation_target, k.binary_ref, k.checksum,
               -- A kernel found in the store was not characterized again: fall back to the
               -- profile its KernelReady carries.
               coalesce(c.latency_ms, (k.performance_profile->>'latency_p50_ms')::DOUBLE)
                   AS latency_ms,
               coalesce(c.memory_mb, (k.performance_profile->>'memory_mb')::DOUBLE) AS memory_mb,
               c.device, k.ready_events, k.created_at,
               (SELECT count(*) FROM commands m
                WHERE m.kernel_id = k.kernel_id AND m.command = 'germinate') AS germinations
        FROM kernels k
        LEFT JOIN blueprints b ON b.blueprint_id = k.blueprint_id
        LEFT JOIN (SELECT kernel_id, arg_max(latency_ms, occurred_at) AS latency_ms,
                          arg_max(memory_mb, occurred_at) AS memory_mb,
                          arg_max(device, occurred_at) AS device
                   FROM characterizations GROUP BY kernel_id) c ON c.kernel_id = k.kernel_id""",
    # Events kept although they name a run, seed or kernel the log has not (yet) introduced.
    "unknown_references": """
        SELECT 'unknown run' AS problem, 'health_signals' AS in_table, run_id,
               NULL AS reference, count(*) AS events
        FROM health_signals WHERE run_id NOT IN (SELECT run_id FROM runs) GROUP BY run_id
        UNION ALL
        SELECT 'unknown run', 'epochs', run_id, NULL, count(*)
        FROM epochs WHERE run_id NOT IN (SELECT run_id FROM runs) GROUP BY run_id
        UNION ALL
        SELECT 'unknown seed', 'field_reports', run_id, seed_id, count(*)
        FROM field_reports f
        WHERE NOT EXISTS (SELECT 1 FROM seeds s WHERE s.run_id = f.run_id
                          AND s.seed_id = f.seed_id)
        GROUP BY ALL
        UNION ALL
        SELECT 'unknown kernel', 'commands', run_id, kernel_id, count(*)
        FROM commands WHERE kernel_id IS NOT NULL
          AND kernel_id NOT IN (SELECT kernel_id FROM kernels) GROUP BY ALL""",
}


def create_statements() -> list[str]:
    return ([f"CREATE TABLE IF NOT EXISTS {name} ({columns})" for name, columns in TABLES.items()]
            + [f"CREATE OR REPLACE VIEW {name} AS {query}" for name, query in VIEWS.items()])
