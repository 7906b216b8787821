/**
 * The Tasmota relay protocol over MQTT: the wire contract shared by the hub, the edge agent and
 * the simulated relays. Topics follow Tasmota's default FullTopic `%prefix%/%topic%/`.
 * https://tasmota.github.io/docs/MQTT/
 */

export type Prefix = 'cmnd' | 'stat' | 'tele';
export type PowerState = 'on' | 'off';
export type PowerCommand = PowerState | 'toggle';

/** Tasmota's default group topic: every device subscribes to `cmnd/tasmotas/#`. */
export const GROUP_TOPIC = 'tasmotas';
export const LWT_ONLINE = 'Online';
export const LWT_OFFLINE = 'Offline';

/** Device topics: letters, digits, `_` and `-`, as Tasmota's `Topic` command accepts; no MQTT wildcards. */
export const DEVICE_TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isDeviceTopic(topic: string): boolean {
  return DEVICE_TOPIC_PATTERN.test(topic);
}

export const topics = {
  /** `POWER` on a single-relay device (channel 1); `POWER<n>` addresses channel n. */
  power: (device: string, channel: number, single: boolean) => `cmnd/${device}/${powerKey(channel, single)}`,
  command: (device: string, command: string) => `cmnd/${device}/${command}`,
  result: (device: string) => `stat/${device}/RESULT`,
  statPower: (device: string, channel: number, single: boolean) =>
    `stat/${device}/${powerKey(channel, single)}`,
  lwt: (device: string) => `tele/${device}/LWT`,
  state: (device: string) => `tele/${device}/STATE`,
  /** What a device subscribes to for its own commands. */
  commandFilter: (device: string) => `cmnd/${device}/#`,
} as const;

/** Tasmota names channel 1 of a single-relay device `POWER`, and `POWER1`… on multi-relay ones. */
export function powerKey(channel: number, single: boolean): string {
  return single && channel === 1 ? 'POWER' : `POWER${channel}`;
}

/** Parse `POWER`, `POWER1` … `POWER32` into a channel number (`POWER` is channel 1). */
export function parsePowerKey(key: string): number | undefined {
  const m = /^POWER([1-9][0-9]?)?$/i.exec(key);
  if (!m) return undefined;
  const n = m[1] === undefined ? 1 : Number(m[1]);
  return n >= 1 && n <= 32 ? n : undefined;
}

/** The hub sends `ON`, `OFF`, `TOGGLE`; an empty payload queries the state. */
export function encodePowerCommand(command: PowerCommand | 'query'): string {
  return command === 'query' ? '' : command.toUpperCase();
}

/**
 * Parse a power command payload as a Tasmota device accepts it: ON/OFF/TOGGLE, 1/0/2,
 * true/false, and empty or `?` for a query. Blink (3, 4) is not supported by Khu and returns undefined.
 */
export function parsePowerCommand(payload: string): PowerCommand | 'query' | undefined {
  const p = payload.trim().toLowerCase();
  if (p === '' || p === '?') return 'query';
  if (p === 'on' || p === '1' || p === 'true') return 'on';
  if (p === 'off' || p === '0' || p === 'false') return 'off';
  if (p === 'toggle' || p === '2') return 'toggle';
  return undefined;
}

/** Parse a reported power state: `ON`/`OFF` (Tasmota also reports `1`/`0` when SetOption26 is set). */
export function parsePowerState(value: unknown): PowerState | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const v = String(value).trim().toUpperCase();
  if (v === 'ON' || v === '1') return 'on';
  if (v === 'OFF' || v === '0') return 'off';
  return undefined;
}

export function encodePowerState(state: PowerState): string {
  return state === 'on' ? 'ON' : 'OFF';
}

/**
 * Channel states in a JSON object such as `stat/<t>/RESULT {"POWER":"ON"}` or
 * `tele/<t>/STATE {"Time":…,"POWER1":"ON","POWER2":"OFF",…}`. Other keys are ignored.
 * Returns undefined when the payload is not a JSON object, or when a POWER key holds a value
 * that is not a state: such a report is malformed as a whole.
 */
export function parsePowerObject(payload: string): Map<number, PowerState> | undefined {
  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const out = new Map<number, PowerState>();
  for (const [key, value] of Object.entries(data)) {
    const channel = parsePowerKey(key);
    if (channel === undefined) continue;
    const state = parsePowerState(value);
    if (state === undefined) return undefined;
    out.set(channel, state);
  }
  return out;
}

/** A topic split into its parts, when it has the `<prefix>/<device>/<command>` shape. */
export interface ParsedTopic {
  prefix: Prefix;
  device: string;
  command: string;
}

export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 3) return undefined;
  const [prefix, device, command] = parts as [string, string, string];
  if (prefix !== 'cmnd' && prefix !== 'stat' && prefix !== 'tele') return undefined;
  if (!isDeviceTopic(device) || command === '') return undefined;
  return { prefix, device, command };
}
