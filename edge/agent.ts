/**
 * The edge agent of a light cabinet: a Tasmota-compatible relay over MQTT (LWT, POWER<n>,
 * stat/RESULT, tele/STATE) that also accepts the hub's lighting program (`cmnd/<t>/PROGRAM`),
 * keeps it on disk and runs it while the hub is unreachable. It never runs the program while
 * connected: then the hub decides, and the agent does not fight it.
 */
import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import { MqttClient } from 'mqtt';
import type { Logger } from '../hub/src/core/log.js';
import {
  type Program,
  ProgramError,
  type ProgramResult,
  parseProgram,
  programStateAt,
} from '../hub/src/protocol/program.js';
import {
  encodePowerState,
  LWT_OFFLINE,
  LWT_ONLINE,
  type PowerState,
  parsePowerCommand,
  parsePowerState,
  powerKey,
  topics,
} from '../hub/src/protocol/tasmota.js';
import type { EdgeConfig } from './config.js';
import { createDriver, type RelayDriver } from './drivers.js';
import { ProgramRunner } from './program-runner.js';
import { readOptional, stateFiles, writeFileAtomic } from './store.js';

export type SwitchReason = 'command' | 'program' | 'catch-up';

export interface EdgeAgentEvents {
  connected: [];
  /** Subscribed to `cmnd/<t>/#`: commands arrive from now on. */
  subscribed: [];
  disconnected: [];
  /** A reconnect is scheduled after `delayMs` (capped exponential backoff). */
  reconnecting: [delayMs: number];
  switched: [channel: number, state: PowerState, reason: SwitchReason];
  programStored: [program: Program];
  programRejected: [error: string];
}

export interface EdgeAgentOptions {
  config: EdgeConfig;
  log: Logger;
  /** Epoch ms; default Date.now. Tests move it to bring a programmed instant near. */
  clock?: () => number;
  driver?: RelayDriver;
}

const STOP_TIMEOUT_MS = 2000;

export class EdgeAgent extends EventEmitter<EdgeAgentEvents> {
  readonly #config: EdgeConfig;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #driver: RelayDriver;
  readonly #files: ReturnType<typeof stateFiles>;
  readonly #runner: ProgramRunner;
  #states: PowerState[];
  #program: Program | undefined;
  #client: MqttClient | undefined;
  #connected = false;
  #running = false;
  /** Until the first connection after start: report every channel once, as Tasmota does at boot. */
  #bootReport = true;
  /** At start the hub's intention is unknown: if it cannot be reached, catch up with the program. */
  #catchUpPending = true;
  #backoffMs: number;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #teleTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  /** Switching and persisting one change at a time, in order. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: EdgeAgentOptions) {
    super();
    this.#config = options.config;
    this.#log = options.log;
    this.#clock = options.clock ?? Date.now;
    this.#driver = options.driver ?? createDriver(options.config.driver);
    this.#files = stateFiles(options.config.stateDir);
    this.#backoffMs = options.config.mqtt.reconnect.initialMs;
    this.#states = Array.from({ length: options.config.channels }, (): PowerState => 'off');
    this.#runner = new ProgramRunner({
      clock: this.#clock,
      apply: (program, at) => this.#applyProgram(program, at, 'program'),
    });
  }

  get connected(): boolean {
    return this.#connected;
  }
  get program(): Program | undefined {
    return this.#program;
  }
  states(): PowerState[] {
    return [...this.#states];
  }

  /** Restore the last states onto the relays, load the program, and connect to the hub. */
  async start(): Promise<void> {
    if (this.#running) throw new Error('edge agent already started');
    this.#states = await this.#loadStates();
    this.#program = await this.#loadProgram();
    await this.#driver.start(this.#states);
    this.#log.info({ states: this.#states, program: this.#program !== undefined }, 'relays restored');
    this.#running = true;
    this.#startedAt = Date.now();
    this.#connect();
    this.#startTele();
  }

  /** Announce Offline, disconnect, stop the runner and release the outputs. */
  async stop(): Promise<void> {
    const wasRunning = this.#running;
    this.#running = false;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#teleTimer);
    this.#runner.stop();
    const client = this.#client;
    if (client) {
      await new Promise<void>((resolve) => {
        const safety = setTimeout(() => {
          client.stream.destroy();
          resolve();
        }, STOP_TIMEOUT_MS);
        const end = () =>
          client.end(false, {}, () => {
            clearTimeout(safety);
            resolve();
          });
        // A clean DISCONNECT suppresses the will: say Offline ourselves.
        if (this.#connected)
          client.publish(topics.lwt(this.#config.mqtt.topic), LWT_OFFLINE, { qos: 1, retain: true }, end);
        else end();
      });
    }
    await this.#queue;
    if (wasRunning) await this.#driver.stop();
  }

  // --- MQTT ------------------------------------------------------------------------------------

  #connect(): void {
    this.#reconnectTimer = undefined;
    const { host, port, username, password, clientId, keepaliveSec, topic } = this.#config.mqtt;
    const client = new MqttClient(() => createConnection({ host, port, noDelay: true }), {
      clientId,
      username,
      password,
      keepalive: keepaliveSec,
      connectTimeout: 10_000,
      clean: true,
      reconnectPeriod: 0, // ours: a fresh client per attempt, with capped backoff
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: topics.lwt(topic), payload: Buffer.from(LWT_OFFLINE), qos: 1, retain: true },
    });
    this.#client = client;
    client.on('connect', () => this.#onConnect(client));
    client.on('message', (t, payload) => this.#onMessage(client, t, payload));
    client.on('error', (err) => {
      if (client === this.#client) this.#log.warn({ err: err.message, host, port }, 'hub connection failed');
    });
    client.on('close', () => this.#onClose(client));
  }

  #onConnect(client: MqttClient): void {
    if (client !== this.#client) return;
    const { topic } = this.#config.mqtt;
    this.#connected = true;
    this.#backoffMs = this.#config.mqtt.reconnect.initialMs;
    this.#catchUpPending = false;
    // The hub is back: it decides again.
    this.#runner.stop();
    this.#log.info({ topic }, 'connected to the hub');
    this.emit('connected');
    client.publish(topics.lwt(topic), LWT_ONLINE, { qos: 1, retain: true });
    client.subscribe(topics.commandFilter(topic), { qos: 0 }, (err) => {
      if (client !== this.#client || !this.#connected) return;
      if (err) {
        this.#log.error({ err: err.message }, 'the hub refused the command subscription');
        return;
      }
      if (this.#bootReport) {
        this.#bootReport = false;
        for (let ch = 1; ch <= this.#config.channels; ch++) this.#publish(this.#powerMessages(ch));
      }
      this.emit('subscribed');
    });
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    const wasConnected = this.#connected;
    this.#connected = false;
    if (wasConnected) {
      this.#log.warn('lost the hub: running the stored program');
      this.emit('disconnected');
    }
    if (!this.#running) return;
    this.#hubUnreachable();
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#config.mqtt.reconnect.maxMs);
    this.emit('reconnecting', delay);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #hubUnreachable(): void {
    const program = this.#program;
    if (!program) return;
    if (this.#catchUpPending) {
      // Booted without the hub (after a power cut, say): set what the program says for now.
      this.#catchUpPending = false;
      this.#applyProgram(program, this.#clock(), 'catch-up');
    }
    // Once per outage: re-planning at each failed reconnect could skip an instant that just passed.
    if (!this.#runner.running) this.#runner.start(program);
  }

  #publish(messages: [string, string][]): void {
    const client = this.#client;
    if (!client || !this.#connected) return;
    for (const [t, p] of messages) client.publish(t, p, { qos: 0 });
  }

  // --- commands --------------------------------------------------------------------------------

  #onMessage(client: MqttClient, topic: string, payload: Buffer): void {
    if (client !== this.#client) return;
    const parts = topic.split('/');
    if (parts.length !== 3 || parts[0] !== 'cmnd' || parts[1] !== this.#config.mqtt.topic) return;
    const command = (parts[2] ?? '').toUpperCase();
    const text = payload.toString('utf8');
    const m = /^(.*?)(\d*)$/.exec(command);
    const name = m?.[1] ?? command;
    const index = m?.[2] ? Number(m[2]) : 1;
    const result = topics.result(this.#config.mqtt.topic);
    if (name === 'POWER') this.#onPower(index, text);
    else if (command === 'PROGRAM') void this.#onProgram(text);
    else if (command === 'STATE') this.#publishState();
    else this.#publish([[result, '{"Command":"Unknown"}']]);
  }

  #onPower(channel: number, payload: string): void {
    const result = topics.result(this.#config.mqtt.topic);
    if (channel < 1 || channel > this.#config.channels) {
      this.#publish([[result, '{"Command":"Error"}']]);
      return;
    }
    // As CmndPower(): a payload it cannot read shows the state.
    const action = parsePowerCommand(payload) ?? 'query';
    if (action === 'query') {
      this.#publish(this.#powerMessages(channel));
      return;
    }
    this.#enqueue(async () => {
      const current = this.#states[channel - 1];
      const next: PowerState = action === 'toggle' ? (current === 'on' ? 'off' : 'on') : action;
      await this.#switch(channel, next, 'command');
      this.#publish(this.#powerMessages(channel));
    });
  }

  async #onProgram(payload: string): Promise<void> {
    const result = topics.result(this.#config.mqtt.topic);
    const reply = (r: ProgramResult) => this.#publish([[result, JSON.stringify(r)]]);
    if (payload.trim() === '') {
      const p = this.#program;
      reply({
        PROGRAM: p
          ? { Status: 'Active', Version: p.version, Channels: p.channels.map((c) => c.channel) }
          : { Status: 'None' },
      });
      return;
    }
    let program: Program;
    try {
      program = parseProgram(payload);
      const foreign = program.channels.find((c) => c.channel > this.#config.channels);
      if (foreign) {
        throw new ProgramError(
          `channel ${foreign.channel} is not on this cabinet (it has ${this.#config.channels} channels)`,
        );
      }
    } catch (err) {
      const message = err instanceof ProgramError ? err.message : String(err);
      this.#log.warn({ error: message }, 'PROGRAM refused');
      this.emit('programRejected', message);
      reply({ PROGRAM: { Status: 'Error', Error: message } });
      return;
    }
    try {
      await writeFileAtomic(this.#files.program, `${JSON.stringify(program)}\n`);
    } catch (err) {
      this.#log.error({ err }, 'cannot store the program');
      reply({ PROGRAM: { Status: 'Error', Error: `cannot store the program: ${(err as Error).message}` } });
      return;
    }
    this.#program = program;
    this.#log.info({ channels: program.channels.length }, 'program stored');
    this.emit('programStored', program);
    reply({
      PROGRAM: {
        Status: 'Stored',
        Version: program.version,
        Channels: program.channels.map((c) => c.channel),
      },
    });
  }

  // --- switching -------------------------------------------------------------------------------

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue
      .then(task)
      .catch((err: unknown) => this.#log.error({ err }, 'switching failed'));
  }

  async #switch(channel: number, state: PowerState, reason: SwitchReason): Promise<void> {
    if (this.#states[channel - 1] === state) return;
    const next = [...this.#states];
    next[channel - 1] = state;
    await this.#driver.set(next);
    this.#states = next;
    this.#log.info({ channel, state, reason }, 'switched');
    this.emit('switched', channel, state, reason);
    await writeFileAtomic(this.#files.relays, `${JSON.stringify(this.#states)}\n`);
  }

  #applyProgram(program: Program, at: number, reason: SwitchReason): void {
    this.#enqueue(async () => {
      for (const ch of program.channels) {
        const state = programStateAt(program, ch.channel, at);
        if (state !== undefined) await this.#switch(ch.channel, state, reason);
      }
    });
  }

  #powerMessages(channel: number): [string, string][] {
    const single = this.#config.channels === 1;
    const key = powerKey(channel, single);
    const value = encodePowerState(this.#states[channel - 1] ?? 'off');
    const t = this.#config.mqtt.topic;
    return [
      [topics.result(t), JSON.stringify({ [key]: value })],
      [topics.statPower(t, channel, single), value],
    ];
  }

  #startTele(): void {
    const periodMs = this.#config.telePeriodSec * 1000;
    if (periodMs > 0) this.#teleTimer = setInterval(() => this.#publishState(), periodMs);
  }

  #publishState(): void {
    const uptime = Math.floor((Date.now() - this.#startedAt) / 1000);
    const state: Record<string, unknown> = {
      Time: new Date(this.#clock()).toISOString().slice(0, 19),
      UptimeSec: uptime,
    };
    for (let ch = 1; ch <= this.#config.channels; ch++) {
      state[powerKey(ch, this.#config.channels === 1)] = encodePowerState(this.#states[ch - 1] ?? 'off');
    }
    state.Program = this.#program ? 'Active' : 'None';
    this.#publish([[topics.state(this.#config.mqtt.topic), JSON.stringify(state)]]);
  }

  // --- state on disk ---------------------------------------------------------------------------

  async #loadStates(): Promise<PowerState[]> {
    const out = Array.from({ length: this.#config.channels }, (): PowerState => 'off');
    const text = await readOptional(this.#files.relays);
    if (text === undefined) return out;
    try {
      const saved: unknown = JSON.parse(text);
      if (!Array.isArray(saved)) throw new Error('not a list');
      saved.slice(0, out.length).forEach((v, i) => {
        out[i] = parsePowerState(v) ?? 'off';
      });
    } catch (err) {
      this.#log.warn(
        { err: (err as Error).message, file: this.#files.relays },
        'unreadable relay states: all off',
      );
    }
    return out;
  }

  async #loadProgram(): Promise<Program | undefined> {
    const text = await readOptional(this.#files.program);
    if (text === undefined) return undefined;
    try {
      return parseProgram(text);
    } catch (err) {
      this.#log.error(
        { err: (err as Error).message, file: this.#files.program },
        'stored program unreadable: none',
      );
      return undefined;
    }
  }
}
