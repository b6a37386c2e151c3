/** Prometheus metrics of one server instance (own registry: no global state). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from '../protocol/version.js';

export class Metrics {
  readonly registry = new Registry();
  readonly agentsConnected = new Gauge({
    name: 'idv_agents_connected',
    help: 'Agents with an authenticated sync connection.',
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'idv_pushes_total',
    help: 'Sync messages sent to agents, by kind (snapshot or delta).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly pushAck = new Histogram({
    name: 'idv_push_ack_seconds',
    help: 'Time from sending a snapshot or delta to the agent acknowledging it.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'idv_events_total',
    help: 'Login events stored, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly chainBreaks = new Counter({
    name: 'idv_event_chain_breaks_total',
    help: "Breaks found in devices' event chains on upload, by kind (gap: events deleted; rewrite: an event altered or replaced).",
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly connectionsClosed = new Counter({
    name: 'idv_agent_connections_closed_total',
    help: 'Agent connections closed by the server, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly connectionsDropped = new Counter({
    name: 'idv_connections_dropped_total',
    help: 'Connections not authenticated yet that the server refused or dropped (limits), by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly insecure = new Gauge({
    name: 'idv_insecure',
    help: '1 when the server was started with --insecure and serves plain http (no TLS).',
    registers: [this.registry],
  });

  /** Always 1; the labels say what runs (the usual Prometheus `*_build_info` idiom). */
  readonly buildInfo = new Gauge({
    name: 'idv_build_info',
    help: 'The idv version, the commit it was built from and the Node.js version it runs on (value 1).',
    labelNames: ['version', 'commit', 'node'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'idv_server_' });
    this.buildInfo.set(buildInfo(), 1);
  }
}
