/** Many simulated relays from one provisioning document, connected a bounded number at a time. */
import type { Provisioning } from './provisioning.js';
import { SimRelay, type SimRelayOptions } from './relay.js';

export interface SimFleetOptions {
  /** Override the provisioning's broker address. */
  host?: string;
  port?: number;
  /** For every relay; default 300 s, 0 disables. */
  telePeriodSec?: number;
  /** Relays connecting at the same time; default 100. */
  concurrency?: number;
  /** Further options for every relay. */
  relay?: Pick<SimRelayOptions, 'reconnect' | 'subscribeDelayMs' | 'keepaliveSec' | 'connectTimeoutMs'>;
}

export interface SimFleetStartResult {
  started: number;
  failed: { topic: string; error: Error }[];
}

export class SimFleet {
  readonly relays: readonly SimRelay[];
  readonly host: string;
  readonly port: number;
  readonly #byTopic: Map<string, SimRelay>;
  readonly #concurrency: number;
  #stopping = false;

  constructor(provisioning: Provisioning, options: SimFleetOptions = {}) {
    this.host = options.host ?? provisioning.broker.host;
    this.port = options.port ?? provisioning.broker.port;
    this.#concurrency = Math.max(1, options.concurrency ?? 100);
    this.relays = provisioning.relays.map(
      (r) =>
        new SimRelay({
          ...options.relay,
          host: this.host,
          port: this.port,
          topic: r.topic,
          username: r.username,
          password: r.password,
          channels: r.channels,
          powerOnState: r.powerOnState,
          telePeriodSec: options.telePeriodSec,
        }),
    );
    this.#byTopic = new Map(this.relays.map((relay) => [relay.topic, relay]));
  }

  get(topic: string): SimRelay | undefined {
    return this.#byTopic.get(topic);
  }

  get connectedCount(): number {
    let n = 0;
    for (const relay of this.relays) if (relay.connected) n++;
    return n;
  }

  /**
   * Start every relay, `concurrency` at a time. Resolves when each one is subscribed or has
   * failed (a refused login); one bad relay does not stop the others. While the broker is
   * unreachable, relays keep retrying and this waits.
   */
  async start(): Promise<SimFleetStartResult> {
    this.#stopping = false;
    const result: SimFleetStartResult = { started: 0, failed: [] };
    let next = 0;
    const worker = async () => {
      while (!this.#stopping && next < this.relays.length) {
        const relay = this.relays[next++]!;
        try {
          await relay.start();
          result.started++;
        } catch (err) {
          result.failed.push({ topic: relay.topic, error: err as Error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, this.relays.length) }, worker));
    return result;
  }

  /** Disconnect every relay gracefully (no wills). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.relays.map((relay) => relay.stop()));
  }
}
