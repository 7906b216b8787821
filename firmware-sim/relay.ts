/**
 * A simulated Tasmota relay: the MQTT behaviour of a real device (connect sequence, commands and
 * replies, telemetry, reconnects), plus fault injection for tests and benchmarks.
 * Modelled on Tasmota's `xdrv_02_9_mqtt.ino` (MqttConnected) and `support_command.ino`
 * (CommandHandler, CmndPower). https://tasmota.github.io/docs/MQTT/
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import { ErrorWithSubackPacket, MqttClient } from 'mqtt';
import {
  encodePowerState,
  GROUP_TOPIC,
  isDeviceTopic,
  LWT_OFFLINE,
  LWT_ONLINE,
  type PowerState,
  parsePowerCommand,
  powerKey,
  topics,
} from '../hub/src/protocol/tasmota.js';
import {
  applyTimerPayload,
  EMPTY_TIMER,
  formatRuleResult,
  formatTimerResult,
  formatTimersResult,
  formatTimezone,
  MAX_BACKLOG_COMMANDS,
  MAX_RULE_CHARS,
  MAX_RULE_SETS,
  MAX_TIMERS,
  MIN_VALID_EPOCH,
  parseBacklog,
  parseCommandLine,
  parseCoordinate,
  parseRuleSet,
  parseTimersPayload,
  parseTimezone,
  type RuleSetState,
  type TasmotaTimer,
  timerMinuteOn,
} from '../hub/src/protocol/tasmota-timers.js';
import { MAX_CHANNELS, type PowerOnState } from './provisioning.js';

export interface SimRelayOptions {
  host: string;
  port: number;
  /** Tasmota `Topic`. */
  topic: string;
  username?: string;
  password?: string;
  /** Default `DVES_<6 hex>`, as Tasmota builds it from the MAC address. */
  clientId?: string;
  /** 1 (default) = single relay, `POWER`; 2..8 = `POWER1`…`POWER<n>`. */
  channels?: number;
  /** Applied at every boot (start, reboot). Default 3: last saved state. */
  powerOnState?: PowerOnState;
  /** `tele/<t>/STATE` period; default 300 s, 0 disables. */
  telePeriodSec?: number;
  /** Reconnect delay after losing the broker: doubles from initialMs (1000) up to maxMs (120000). */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** Delay between `Online` and the SUBSCRIBEs, to widen the race a real device has. Default 0. */
  subscribeDelayMs?: number;
  /** MQTT keepalive; Tasmota's default is 30 s. */
  keepaliveSec?: number;
  /** Time allowed for CONNACK; default 10 s. */
  connectTimeoutMs?: number;
  /** The device's clock (epoch ms) before any `Time` command; default Date.now. For tests. */
  clock?: () => number;
}

/** Which of its three command subscriptions a command arrived on. */
export type CommandRoute = 'topic' | 'group' | 'fallback';

export interface SimCommand {
  topic: string;
  /** Upper-cased, as Tasmota reads it: `POWER2`, `FOO`. */
  command: string;
  payload: string;
  via: CommandRoute;
}

export interface SimRelayEvents {
  /** CONNACK accepted. */
  connected: [];
  /** The broker granted `cmnd/<t>/#`: from now on commands arrive. */
  subscribed: [];
  disconnected: [];
  switched: [channel: number, state: PowerState];
  command: [command: SimCommand];
  /** A connection attempt failed (refused CONNACK, socket error); the relay retries unless stopped. */
  connectFailed: [error: Error];
  /**
   * A timer came due (at a minute boundary of the device's clock): `executed` is false when the
   * timers were disarmed (`Timers 0`), as while the hub is connected.
   */
  timer: [index: number, executed: boolean];
  /** A rule trigger fired (`Mqtt#Connected`, `Mqtt#Disconnected`, `System#Boot`). */
  trigger: [trigger: string];
}

/** What a Tasmota device keeps in flash across restarts (the part the sim models). */
interface FlashSettings {
  timers: TasmotaTimer[];
  /** `Timers 1|0`: the global arm switch. Tasmota's default is on. */
  timersArmed: boolean;
  latitude: number;
  longitude: number;
  timezoneMin: number;
  rules: RuleSetState[];
}

/** Tasmota's defaults (user_config.h): the author's location, UTC+1. */
const defaultFlash = (): FlashSettings => ({
  timers: Array.from({ length: MAX_TIMERS }, () => ({ ...EMPTY_TIMER })),
  timersArmed: true,
  latitude: 48.85836,
  longitude: 2.294442,
  timezoneMin: 60,
  rules: Array.from({ length: MAX_RULE_SETS }, () => ({
    enabled: false,
    once: false,
    stopOnError: false,
    text: '',
  })),
});

export interface FlapOptions {
  /** Each cycle: down for periodMs, then up (subscribed) for periodMs. */
  periodMs: number;
  count: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

const STOP_TIMEOUT_MS = 2000;

const defaultClientId = () => `DVES_${randomBytes(3).toString('hex').toUpperCase()}`;

/** Tasmota's uptime format: `1T02:03:04`. */
function formatUptime(sec: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const d = Math.floor(sec / 86400);
  return `${d}T${pad(Math.floor(sec / 3600) % 24)}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}`;
}

/** Local time without a zone, as Tasmota's `Time` field: `2026-11-26T14:00:00`. */
function localIsoNoZone(now: Date): string {
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

export class SimRelay extends EventEmitter<SimRelayEvents> {
  readonly topic: string;
  readonly clientId: string;
  readonly channels: number;
  /** Delay every reply (not the switching) by this much. */
  ackDelayMs = 0;
  /** Ignore power commands entirely: no switching, no reply. */
  stuck = false;

  /** Survives reboot(), like Tasmota's settings in flash. */
  readonly #flash: FlashSettings = defaultFlash();
  readonly #clock: () => number;
  /** Set by `Time <epoch>`: the device clock minus the injected clock. */
  #clockOffsetMs = 0;
  #timerClock: NodeJS.Timeout | undefined;
  #lastTimerMinute = -1;

  readonly #opts: Required<
    Omit<SimRelayOptions, 'username' | 'password' | 'clientId' | 'reconnect' | 'clock'>
  > & {
    username?: string;
    password?: string;
  };
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #power: PowerState[];
  #locked = false;

  #client: MqttClient | undefined;
  #connected = false;
  /** Between start()/reboot() and stop()/kill(): the relay wants to be online. */
  #running = false;
  /** Taken offline by dropFor(); reconnects when its timer fires. */
  #suspended = false;
  #bootPending = false;
  #bootedAt = 0;
  #backoffMs: number;
  #waiter: Waiter | undefined;
  #flap: { left: number; periodMs: number; done: Waiter } | undefined;

  #reconnectTimer: NodeJS.Timeout | undefined;
  #subscribeTimer: NodeJS.Timeout | undefined;
  #suspendTimer: NodeJS.Timeout | undefined;
  #flapTimer: NodeJS.Timeout | undefined;
  #teleTimer: NodeJS.Timeout | undefined;
  readonly #replyTimers = new Set<NodeJS.Timeout>();

  #commandsReceived = 0;
  #switches = 0;
  #connectCount = 0;
  #downSince = 0;
  #downtimeMs = 0;

  constructor(options: SimRelayOptions) {
    super();
    const channels = options.channels ?? 1;
    if (!isDeviceTopic(options.topic)) {
      throw new Error(`SimRelay: invalid topic ${JSON.stringify(options.topic)}`);
    }
    if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
      throw new Error(`SimRelay ${options.topic}: channels must be an integer from 1 to ${MAX_CHANNELS}`);
    }
    const telePeriodSec = options.telePeriodSec ?? 300;
    if (!(telePeriodSec >= 0)) throw new Error(`SimRelay ${options.topic}: telePeriodSec must be >= 0`);
    this.topic = options.topic;
    this.clientId = options.clientId ?? defaultClientId();
    this.channels = channels;
    this.#opts = {
      host: options.host,
      port: options.port,
      topic: options.topic,
      username: options.username,
      password: options.password,
      channels,
      powerOnState: options.powerOnState ?? 3,
      telePeriodSec,
      subscribeDelayMs: options.subscribeDelayMs ?? 0,
      keepaliveSec: options.keepaliveSec ?? 30,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    };
    this.#initialBackoffMs = options.reconnect?.initialMs ?? 1000;
    this.#maxBackoffMs = options.reconnect?.maxMs ?? 120_000;
    this.#backoffMs = this.#initialBackoffMs;
    this.#clock = options.clock ?? Date.now;
    this.#power = Array.from({ length: channels }, (): PowerState => 'off');
  }

  get connected(): boolean {
    return this.#connected;
  }
  get commandsReceived(): number {
    return this.#commandsReceived;
  }
  /**
   * Changes of a relay contact by a command or a button press (an ON to a relay already on is
   * not one, nor the PowerOnState applied at boot).
   */
  get switches(): number {
    return this.#switches;
  }
  /** Successful MQTT connections since construction. */
  get connectCount(): number {
    return this.#connectCount;
  }
  get uptimeSec(): number {
    return this.#bootedAt === 0 ? 0 : Math.floor((Date.now() - this.#bootedAt) / 1000);
  }

  state(channel = 1): PowerState {
    const state = this.#power[channel - 1];
    if (state === undefined) throw new RangeError(`SimRelay ${this.topic}: no channel ${channel}`);
    return state;
  }

  states(): PowerState[] {
    return [...this.#power];
  }

  /** The device clock (epoch ms): the injected clock, moved by `Time <epoch>`. */
  now(): number {
    return this.#clock() + this.#clockOffsetMs;
  }

  /** `Timers` is on: enabled timers switch at their instants. */
  get timersArmed(): boolean {
    return this.#flash.timersArmed;
  }

  /** A copy of timer `index` (1–16) as stored. */
  timer(index: number): TasmotaTimer {
    const t = this.#flash.timers[index - 1];
    if (!t) throw new RangeError(`SimRelay ${this.topic}: no timer ${index}`);
    return { ...t, days: [...t.days] };
  }

  /** Latitude, longitude and time zone (minutes east of UTC) as stored. */
  get site(): { latitude: number; longitude: number; timezoneMin: number } {
    const { latitude, longitude, timezoneMin } = this.#flash;
    return { latitude, longitude, timezoneMin };
  }

  /** Rule set `index` (1–3) as stored. */
  rule(index: number): RuleSetState {
    const r = this.#flash.rules[index - 1];
    if (!r) throw new RangeError(`SimRelay ${this.topic}: no rule set ${index}`);
    return { ...r };
  }

  /**
   * Run a console command line as if typed on the device (`Backlog …`, `Timer1 {…}`); replies go
   * to `stat/<t>/RESULT` when connected. Returns the RESULT payloads.
   */
  console(line: string): string[] {
    const cmd = parseCommandLine(line);
    if (!cmd) return [];
    return this.#execute(cmd.command, cmd.payload)
      .filter(([t]) => t === topics.result(this.topic))
      .map(([, p]) => p);
  }

  /** Boot and connect. Resolves once subscribed; rejects if the broker refuses the login. */
  start(): Promise<void> {
    if (this.#running) return Promise.reject(new Error(`SimRelay ${this.topic}: already started`));
    this.#running = true;
    this.#boot();
    const subscribed = this.#waitSubscribed();
    this.#connect();
    return subscribed;
  }

  /** Graceful: DISCONNECT (so no will), then every timer cleared. */
  async stop(): Promise<void> {
    this.#halt('stopped');
    const client = this.#client;
    if (!client) return;
    if (!this.#connected) {
      await this.#destroy(client);
      return;
    }
    await new Promise<void>((resolve) => {
      const safety = setTimeout(() => {
        client.stream.destroy();
        resolve();
      }, STOP_TIMEOUT_MS);
      client.end(false, {}, () => {
        clearTimeout(safety);
        resolve();
      });
    });
  }

  /** Power cut: the socket closes without DISCONNECT, so the broker publishes the will. No reconnect. */
  async kill(): Promise<void> {
    this.#halt('killed');
    if (this.#client) await this.#destroy(this.#client);
  }

  /** Lose the connection abruptly (the will fires) and come back after `ms`, state kept. */
  async dropFor(ms: number): Promise<void> {
    if (!this.#running) throw new Error(`SimRelay ${this.topic}: not started`);
    this.#suspended = true;
    this.#clearConnectionTimers();
    clearTimeout(this.#suspendTimer);
    this.#suspendTimer = setTimeout(() => {
      this.#suspendTimer = undefined;
      this.#suspended = false;
      if (this.#running && !this.#client) this.#connect();
    }, ms);
    if (this.#client) await this.#destroy(this.#client);
  }

  /**
   * Drop and come back `count` times: down for periodMs, then up for periodMs after subscribing.
   * Resolves once the last cycle is back online.
   */
  flap({ periodMs, count }: FlapOptions): Promise<void> {
    if (!this.#running) return Promise.reject(new Error(`SimRelay ${this.topic}: not started`));
    if (this.#flap) return Promise.reject(new Error(`SimRelay ${this.topic}: already flapping`));
    if (count < 1) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#flap = { left: count, periodMs, done: { resolve, reject } };
      this.#flapOnce();
    });
  }

  /**
   * Restart the device: the connection drops abruptly (the will fires), PowerOnState is applied,
   * and it connects again as at boot. Resolves once it is booting, without waiting for the
   * broker (which may be down): wait for 'subscribed' to know it is back.
   */
  async reboot(): Promise<void> {
    if (!this.#running) throw new Error(`SimRelay ${this.topic}: not started`);
    this.#endFlap(new Error(`SimRelay ${this.topic}: rebooted`));
    this.#suspended = false;
    clearTimeout(this.#suspendTimer);
    this.#clearConnectionTimers();
    this.#clearReplies();
    if (this.#client) await this.#destroy(this.#client);
    if (!this.#running) throw new Error(`SimRelay ${this.topic}: stopped during reboot`);
    this.#boot();
    this.#connect();
  }

  /** A press of the device's button: toggles the channel and reports it, as Tasmota does by itself. */
  press(channel = 1): void {
    const current = this.state(channel);
    if (this.#locked) return;
    this.#setPower(channel, current === 'on' ? 'off' : 'on');
    if (this.#client && this.#connected) this.#publishPower(this.#client, channel);
  }

  // --- lifecycle -------------------------------------------------------------------------------

  #boot(): void {
    this.#bootedAt = Date.now();
    this.#bootPending = true;
    this.#backoffMs = this.#initialBackoffMs;
    // PowerOnState sets the relays before anything runs: not a switch, no event.
    const pos = this.#opts.powerOnState;
    for (let i = 0; i < this.channels; i++) {
      if (pos === 0) this.#power[i] = 'off';
      else if (pos === 1 || pos === 4) this.#power[i] = 'on';
      else if (pos === 2) this.#power[i] = this.#power[i] === 'on' ? 'off' : 'on';
    }
    this.#locked = pos === 4;
    this.#startTele();
    this.#lastTimerMinute = -1;
    this.#scheduleTimerClock();
    this.#trigger('System#Boot');
  }

  #waitSubscribed(): Promise<void> {
    this.#waiter?.reject(new Error(`SimRelay ${this.topic}: restarted before subscribing`));
    return new Promise<void>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #settle(err?: Error): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (err) waiter?.reject(err);
    else waiter?.resolve();
  }

  /** Stop wanting a connection: clear every timer and settle pending promises. */
  #halt(reason: string): void {
    this.#running = false;
    this.#suspended = false;
    clearTimeout(this.#suspendTimer);
    this.#suspendTimer = undefined;
    this.#clearConnectionTimers();
    this.#clearReplies();
    clearInterval(this.#teleTimer);
    this.#teleTimer = undefined;
    clearTimeout(this.#timerClock);
    this.#timerClock = undefined;
    this.#endFlap(new Error(`SimRelay ${this.topic}: ${reason}`));
    this.#settle(new Error(`SimRelay ${this.topic}: ${reason} before subscribing`));
  }

  #clearConnectionTimers(): void {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#subscribeTimer);
    this.#reconnectTimer = undefined;
    this.#subscribeTimer = undefined;
  }

  #clearReplies(): void {
    for (const timer of this.#replyTimers) clearTimeout(timer);
    this.#replyTimers.clear();
  }

  #destroy(client: MqttClient): Promise<void> {
    return new Promise<void>((resolve) => {
      if (client !== this.#client) return resolve();
      client.once('close', () => resolve());
      client.stream.destroy();
    });
  }

  #connect(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const { host, port } = this.#opts;
    // Our own stream builder: mqtt.js's TCP builder leaves Nagle on, and small writes then wait
    // for delayed ACKs (~40 ms per hop on loopback instead of ~0.1 ms).
    const client = new MqttClient(() => createConnection({ host, port, noDelay: true }), {
      clientId: this.clientId,
      username: this.#opts.username,
      password: this.#opts.password,
      keepalive: this.#opts.keepaliveSec,
      connectTimeout: this.#opts.connectTimeoutMs,
      clean: true,
      reconnectPeriod: 0, // reconnects are ours: a fresh client each time, with backoff
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: topics.lwt(this.topic), payload: Buffer.from(LWT_OFFLINE), qos: 1, retain: true },
    });
    this.#client = client;
    client.on('connect', () => this.#onConnect(client));
    client.on('message', (topic, payload) => this.#onMessage(client, topic, payload));
    client.on('error', (err) => this.#onError(client, err));
    client.on('close', () => this.#onClose(client));
  }

  #onConnect(client: MqttClient): void {
    if (client !== this.#client) return;
    this.#connected = true;
    this.#connectCount++;
    this.#backoffMs = this.#initialBackoffMs;
    if (this.#downSince) this.#downtimeMs += Date.now() - this.#downSince;
    this.#downSince = 0;
    this.emit('connected');
    this.#trigger('Mqtt#Connected');
    // MqttConnected(): LWT Online (retained), then an empty cmnd/<t>/POWER ("Satisfy iobroker
    // (#299)"), then the subscriptions. A reconnect does not republish the power state.
    client.publish(topics.lwt(this.topic), LWT_ONLINE, { qos: 0, retain: true });
    client.publish(topics.command(this.topic, 'POWER'), '', { qos: 0, retain: false });
    if (this.#opts.subscribeDelayMs > 0) {
      this.#subscribeTimer = setTimeout(() => this.#subscribe(client), this.#opts.subscribeDelayMs);
    } else {
      this.#subscribe(client);
    }
  }

  #subscribe(client: MqttClient): void {
    this.#subscribeTimer = undefined;
    if (client !== this.#client || !this.#connected) return;
    const own = topics.commandFilter(this.topic);
    client.subscribe(own, { qos: 0 }, (err) => {
      if (client !== this.#client || !this.#connected) return;
      // A refusal comes with its SUBACK; "Connection closed" (a drop meanwhile) without one.
      if (err && !(err instanceof ErrorWithSubackPacket && err.packet)) return;
      if (err) {
        // Without its command topic the device is deaf; a real one would not notice, a test should.
        const error = new Error(`SimRelay ${this.topic}: the broker refused the subscription to ${own}`, {
          cause: err,
        });
        this.emit('connectFailed', error);
        this.#settle(error);
        void this.stop();
        return;
      }
      this.#onSubscribed(client);
    });
    // Separate SUBSCRIBEs: a broker may refuse these (SUBACK 0x80) and the device carries on.
    const ignoreRefusal = () => {};
    client.subscribe(`cmnd/${GROUP_TOPIC}/#`, { qos: 0 }, ignoreRefusal);
    client.subscribe(`cmnd/${this.clientId}_fb/#`, { qos: 0 }, ignoreRefusal);
  }

  #onSubscribed(client: MqttClient): void {
    if (this.#bootPending) {
      // First connection after boot: MqttPublishAllPowerState(); Tasmota's first STATE follows
      // 5 s later (only when TelePeriod is set), ours at once.
      this.#bootPending = false;
      for (let ch = 1; ch <= this.channels; ch++) this.#publishPower(client, ch);
      if (this.#opts.telePeriodSec > 0) this.#publishState(client);
    }
    this.emit('subscribed');
    this.#settle();
    if (this.#flap) {
      const flap = this.#flap;
      if (flap.left === 0) this.#endFlap();
      else this.#flapTimer = setTimeout(() => this.#flapOnce(), flap.periodMs);
    }
  }

  #onError(client: MqttClient, err: Error & { code?: unknown }): void {
    if (client !== this.#client || this.#connected) return;
    const refused = typeof err.code === 'number';
    const error = new Error(
      refused
        ? `SimRelay ${this.topic}: the broker refused the connection: ${err.message} (CONNACK ${err.code})`
        : `SimRelay ${this.topic}: cannot connect to ${this.#opts.host}:${this.#opts.port}: ${err.message}`,
      { cause: err },
    );
    this.emit('connectFailed', error);
    // A refused login at boot is a configuration error: give up. Later ones are retried, as Tasmota does.
    if (refused && this.#waiter && this.#bootPending) {
      this.#settle(error);
      this.#halt('refused');
    }
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    clearTimeout(this.#subscribeTimer);
    this.#subscribeTimer = undefined;
    if (this.#connected) {
      this.#connected = false;
      this.#downSince = Date.now();
      this.emit('disconnected');
    }
    // MqttDisconnected() raises Mqtt#Disconnected after a lost connection and after each failed attempt.
    if (this.#running) this.#trigger('Mqtt#Disconnected');
    if (!this.#running || this.#suspended) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #flapOnce(): void {
    this.#flapTimer = undefined;
    const flap = this.#flap;
    if (!flap || !this.#running) return;
    flap.left--;
    this.dropFor(flap.periodMs).catch((err: Error) => this.#endFlap(err));
  }

  #endFlap(err?: Error): void {
    clearTimeout(this.#flapTimer);
    this.#flapTimer = undefined;
    const flap = this.#flap;
    this.#flap = undefined;
    if (err) flap?.done.reject(err);
    else flap?.done.resolve();
  }

  // --- commands --------------------------------------------------------------------------------

  #onMessage(client: MqttClient, topic: string, payload: Buffer): void {
    if (client !== this.#client) return;
    const parts = topic.split('/');
    if (parts.length !== 3 || parts[0] !== 'cmnd') return;
    const target = parts[1];
    const via: CommandRoute | undefined =
      target === this.topic
        ? 'topic'
        : target === GROUP_TOPIC
          ? 'group'
          : target === `${this.clientId}_fb`
            ? 'fallback'
            : undefined;
    if (!via) return;
    this.#commandsReceived++;
    const command = (parts[2] ?? '').toUpperCase();
    const text = payload.toString('utf8');
    this.emit('command', { topic, command, payload: text, via });

    const replies = this.#execute(command, text);
    if (replies.length > 0) this.#reply(client, replies);
  }

  /**
   * CommandHandler(): one command, from MQTT, a Backlog or a rule. Returns the messages to
   * publish. Trailing digits are the index (`POWER2`, `TIMER12`); without them the index is 1.
   */
  #execute(command: string, payload: string): [string, string][] {
    const m = /^(.*?)(\d*)$/.exec(command);
    const name = m?.[1] ?? command;
    const indexed = m?.[2] !== undefined && m[2] !== '';
    const index = indexed ? Number(m[2]) : 1;
    const result = (json: string): [string, string][] => [[topics.result(this.topic), json]];
    switch (name) {
      case 'POWER':
        return this.#onPower(index, payload);
      case 'BACKLOG':
        return this.#onBacklog(payload);
      case 'TIMER':
        return result(this.#onTimer(indexed ? index : 0, payload));
      case 'TIMERS':
        return result(this.#onTimers(payload));
      case 'LATITUDE':
      case 'LONGITUDE':
        return result(this.#onCoordinate(name, payload));
      case 'TIMEZONE':
        return result(this.#onTimezone(payload));
      case 'TIME':
        return result(this.#onTime(payload));
      case 'RULE':
        return result(this.#onRule(index, payload));
      default:
        return result('{"Command":"Unknown"}');
    }
  }

  /** Backlog: each command in order, at most 30 (Tasmota drops the rest). */
  #onBacklog(payload: string): [string, string][] {
    const out: [string, string][] = [];
    for (const cmd of parseBacklog(payload).slice(0, MAX_BACKLOG_COMMANDS)) {
      if (cmd.command === 'BACKLOG') continue; // no nesting
      out.push(...this.#execute(cmd.command, cmd.payload));
    }
    return out;
  }

  /** `Timer<n>`: empty = show, `0` = clear, `1`–`16` = copy that timer, JSON = set the given keys. */
  #onTimer(index: number, payload: string): string {
    const timers = this.#flash.timers;
    if (index < 1 || index > MAX_TIMERS) return '{"Command":"Error"}';
    const p = payload.trim();
    if (/^\d+$/.test(p)) {
      const n = Number(p);
      if (n === 0) timers[index - 1] = { ...EMPTY_TIMER };
      else if (n <= MAX_TIMERS) timers[index - 1] = { ...timers[n - 1]!, days: [...timers[n - 1]!.days] };
      else return JSON.stringify({ [`Timer${index}`]: 'Invalid JSON' });
    } else if (p !== '') {
      try {
        timers[index - 1] = applyTimerPayload(timers[index - 1]!, p);
      } catch {
        // Tasmota answers D_JSON_INVALID_JSON and keeps the timer as it was.
        return JSON.stringify({ [`Timer${index}`]: 'Invalid JSON' });
      }
    }
    return formatTimerResult(index, timers[index - 1]!);
  }

  #onTimers(payload: string): string {
    const action = parseTimersPayload(payload);
    if (action === undefined) return '{"Command":"Error"}';
    if (action === 'on') this.#flash.timersArmed = true;
    else if (action === 'off') this.#flash.timersArmed = false;
    else if (action === 'toggle') this.#flash.timersArmed = !this.#flash.timersArmed;
    return formatTimersResult(this.#flash.timersArmed);
  }

  #onCoordinate(name: 'LATITUDE' | 'LONGITUDE', payload: string): string {
    const key = name === 'LATITUDE' ? 'latitude' : 'longitude';
    const label = name === 'LATITUDE' ? 'Latitude' : 'Longitude';
    if (payload.trim() !== '') {
      const v = parseCoordinate(payload, name === 'LATITUDE' ? 90 : 180);
      if (v === undefined) return '{"Command":"Error"}';
      this.#flash[key] = v;
    }
    // ResponseCmndFloat(…, 6): a JSON number with six decimals.
    return `{"${label}":${this.#flash[key].toFixed(6)}}`;
  }

  #onTimezone(payload: string): string {
    if (payload.trim() !== '') {
      const v = parseTimezone(payload);
      if (v === undefined) return '{"Command":"Error"}';
      this.#flash.timezoneMin = v;
    }
    return JSON.stringify({ Timezone: formatTimezone(this.#flash.timezoneMin) });
  }

  /** `Time <epoch>` sets the clock (UTC seconds); `Time 0` goes back to the real clock (NTP). */
  #onTime(payload: string): string {
    const p = payload.trim();
    if (p !== '') {
      if (!/^\d+$/.test(p)) return '{"Command":"Error"}';
      const epoch = Number(p);
      if (epoch === 0) this.#clockOffsetMs = 0;
      else if (epoch >= MIN_VALID_EPOCH) this.#clockOffsetMs = epoch * 1000 - this.#clock();
      else if (epoch > 4) return '{"Command":"Error"}';
      this.#lastTimerMinute = -1;
      this.#scheduleTimerClock();
    }
    const now = this.now();
    const local = new Date(now + this.#flash.timezoneMin * 60_000).toISOString().slice(0, 19);
    return JSON.stringify({ Time: local, Epoch: Math.floor(now / 1000) });
  }

  /** `Rule<n>`: 0/1/2 off/on/toggle, 4/5 Once, 8/9 StopOnError, `"` clears, `+text` appends, text sets. */
  #onRule(index: number, payload: string): string {
    const rule = this.#flash.rules[index - 1];
    if (!rule) return '{"Command":"Error"}';
    const p = payload.trim();
    if (/^\d$/.test(p)) {
      const n = Number(p);
      if (n === 0 || n === 1) rule.enabled = n === 1;
      else if (n === 2) rule.enabled = !rule.enabled;
      else if (n === 4 || n === 5) rule.once = n === 5;
      else if (n === 8 || n === 9) rule.stopOnError = n === 9;
      else return '{"Command":"Error"}';
    } else if (p === '"') {
      rule.text = '';
    } else if (p !== '') {
      const text = p.startsWith('+') ? `${rule.text} ${p.slice(1).trim()}`.trim() : p;
      if (text.length > MAX_RULE_CHARS) return '{"Command":"Error"}';
      rule.text = text;
    }
    return formatRuleResult(index, rule);
  }

  /** Run the enabled rule sets whose trigger matches (case-insensitive, as Tasmota compares). */
  #trigger(trigger: string): void {
    this.emit('trigger', trigger);
    for (const rule of this.#flash.rules) {
      if (!rule.enabled || rule.text === '') continue;
      const parsed = parseRuleSet(rule.text);
      if (!parsed) continue;
      const match = parsed.find((r) => r.trigger.toLowerCase() === trigger.toLowerCase());
      if (!match) continue;
      if (rule.once) rule.enabled = false;
      const cmd = parseCommandLine(match.command);
      if (!cmd) continue;
      const replies = this.#execute(cmd.command, cmd.payload);
      if (this.#client && this.#connected && replies.length > 0) this.#reply(this.#client, replies);
    }
  }

  // --- timers ----------------------------------------------------------------------------------

  /** Tasmota checks its timers when the clock's second turns 0: wake at the next minute boundary. */
  #scheduleTimerClock(): void {
    clearTimeout(this.#timerClock);
    if (!this.#running) return;
    const now = this.now();
    const delay = 60_000 - (((now % 60_000) + 60_000) % 60_000);
    this.#timerClock = setTimeout(() => this.#onMinute(), delay + 1);
  }

  #onMinute(): void {
    this.#timerClock = undefined;
    const minute = Math.floor(this.now() / 60_000);
    if (minute !== this.#lastTimerMinute) {
      this.#lastTimerMinute = minute;
      this.#runTimers(minute);
    }
    this.#scheduleTimerClock();
  }

  #runTimers(epochMinute: number): void {
    const { latitude, longitude, timezoneMin } = this.#flash;
    const localMinute = epochMinute + timezoneMin;
    const day = new Date(Math.floor(localMinute / 1440) * 86_400_000);
    const date = { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate() };
    const minuteOfDay = ((localMinute % 1440) + 1440) % 1440;
    this.#flash.timers.forEach((t, i) => {
      if (timerMinuteOn(t, date, { latitude, longitude, timezoneMin }) !== minuteOfDay) return;
      const executed = this.#flash.timersArmed;
      if (executed) {
        if (!t.repeat) t.enable = false;
        if (t.action !== 3 && t.output <= this.channels && !this.#locked) {
          const state =
            t.action === 2 ? (this.state(t.output) === 'on' ? 'off' : 'on') : t.action === 1 ? 'on' : 'off';
          const changed = this.state(t.output) !== state;
          this.#setPower(t.output, state);
          if (changed && this.#client && this.#connected) this.#publishPower(this.#client, t.output);
        }
      }
      this.emit('timer', i + 1, executed);
    });
  }

  #onPower(index: number, payload: string): [string, string][] {
    if (this.stuck) return [];
    if (index > this.channels) {
      // CmndPower() leaves the default response: {"Command":"Error"} on RESULT.
      return [[topics.result(this.topic), '{"Command":"Error"}']];
    }
    // CmndPower(): a payload it cannot read (or blink, 3/4, which the sim lacks) shows the state.
    const action = parsePowerCommand(payload) ?? 'query';
    const channels = index === 0 ? this.#power.map((_, i) => i + 1) : [index];
    for (const ch of channels) {
      if (action === 'query' || this.#locked) continue;
      this.#setPower(ch, action === 'toggle' ? (this.state(ch) === 'on' ? 'off' : 'on') : action);
    }
    return channels.flatMap((ch) => this.#powerMessages(ch));
  }

  #setPower(channel: number, state: PowerState): void {
    if (this.#power[channel - 1] === state) return;
    this.#power[channel - 1] = state;
    this.#switches++;
    this.emit('switched', channel, state);
  }

  /** MqttPublishPowerState(): `stat/<t>/RESULT {"POWER1":"ON"}`, then `stat/<t>/POWER1 ON`. */
  #powerMessages(channel: number): [string, string][] {
    const single = this.channels === 1;
    const key = powerKey(channel, single);
    const value = encodePowerState(this.state(channel));
    return [
      [topics.result(this.topic), JSON.stringify({ [key]: value })],
      [topics.statPower(this.topic, channel, single), value],
    ];
  }

  #publishPower(client: MqttClient, channel: number): void {
    for (const [topic, payload] of this.#powerMessages(channel)) client.publish(topic, payload, { qos: 0 });
  }

  #reply(client: MqttClient, messages: [string, string][]): void {
    const send = () => {
      if (client !== this.#client || !this.#connected) return; // lost with the connection
      for (const [topic, payload] of messages) client.publish(topic, payload, { qos: 0 });
    };
    if (this.ackDelayMs <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.#replyTimers.delete(timer);
      send();
    }, this.ackDelayMs);
    this.#replyTimers.add(timer);
  }

  // --- telemetry -------------------------------------------------------------------------------

  /** One timer per relay, and none when TelePeriod is 0; the first tick is staggered. */
  #startTele(): void {
    clearInterval(this.#teleTimer);
    this.#teleTimer = undefined;
    const periodMs = this.#opts.telePeriodSec * 1000;
    if (periodMs <= 0) return;
    const tick = () => {
      if (this.#client && this.#connected) this.#publishState(this.#client);
    };
    this.#teleTimer = setTimeout(
      () => {
        tick();
        this.#teleTimer = setInterval(tick, periodMs);
      },
      Math.floor(Math.random() * periodMs),
    );
  }

  #publishState(client: MqttClient): void {
    const uptime = this.uptimeSec;
    const downtime = Math.floor(this.#downtimeMs / 1000);
    const state: Record<string, unknown> = {
      Time: localIsoNoZone(new Date()),
      Uptime: formatUptime(uptime),
      UptimeSec: uptime,
      MqttCount: this.#connectCount,
    };
    for (let ch = 1; ch <= this.channels; ch++) {
      state[powerKey(ch, this.channels === 1)] = encodePowerState(this.state(ch));
    }
    state.Wifi = {
      AP: 1,
      SSId: 'khu-sim',
      RSSI: 80,
      Signal: -60,
      LinkCount: this.#connectCount,
      Downtime: formatUptime(downtime),
    };
    client.publish(topics.state(this.topic), JSON.stringify(state), { qos: 0 });
  }
}
