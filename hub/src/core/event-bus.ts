import type { PowerState } from '../protocol/tasmota.js';

/** Who or what asked for a change: a person, a program, the system itself. */
export interface Actor {
  kind: 'user' | 'program' | 'override' | 'system';
  /** Username, program id, override id, or a system reason such as `startup`. */
  name: string;
}

export interface LightSnapshot {
  id: string;
  name: string;
  zone: string;
  desired: PowerState | null;
  reported: PowerState | null;
  online: boolean;
  pending: boolean;
  /** Who or what asked for the desired state (`user:alice`, `program:dusk`), and when. */
  desiredBy: string | null;
  desiredAt: string | null;
  /** When the relay last reported a change. */
  reportedAt: string | null;
}

/** Every event the hub's modules tell each other about. */
export interface HubEvents {
  /** A light's desired or reported state, or its device's availability, changed. */
  lightChanged: { light: LightSnapshot; cause: 'desired' | 'reported' | 'availability' };
  /** Someone or something asked for a light to change. */
  lightCommanded: { lightId: string; from: PowerState | null; to: PowerState; actor: Actor };
  deviceOnline: { deviceId: string };
  deviceOffline: { deviceId: string; reason: 'lwt' | 'disconnect' };
  /** A device's own subscription to its command topic arrived: it can now hear commands. */
  deviceListening: { deviceId: string };
  /** An MQTT message from a device on `stat/…` or `tele/…` (the broker's authorized publishes). */
  deviceMessage: { deviceId: string; prefix: 'stat' | 'tele' | 'cmnd'; command: string; payload: Buffer };
  alarm: {
    kind: 'relay_no_ack' | 'relay_unexpected_state' | 'mqtt_refused' | 'bad_payload';
    deviceId?: string;
    lightId?: string;
    message: string;
    data?: Record<string, unknown>;
  };
  userLogin: { username: string; ok: boolean; address: string; reason?: string };
  /** A recorder closed a segment: it is in the index and plays. */
  segmentClosed: {
    cameraId: string;
    path: string;
    start: string;
    end: string;
    durationMs: number;
    bytes: number;
  };
  /** Recording of a camera stopped (camera down, ffmpeg restarted) and, once `end` is set, resumed. */
  recordingGap: { cameraId: string; start: string; end: string | null; reason: string };
  audit: { actor: Actor; action: string; target?: string; data?: Record<string, unknown> };
}

export type HubEventName = keyof HubEvents;
type Listener<K extends HubEventName> = (payload: HubEvents[K]) => void;

/**
 * A typed, synchronous event bus. Listeners are registered with an owner so that a module's
 * `stop()` removes all of its listeners at once. A listener that throws is reported through
 * `onListenerError` and does not stop the others.
 */
export class EventBus {
  #listeners = new Map<HubEventName, Array<{ owner: string; fn: Listener<HubEventName> }>>();
  #onListenerError: (err: unknown, event: HubEventName, owner: string) => void;

  constructor(onListenerError: (err: unknown, event: HubEventName, owner: string) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  // Lists are replaced, never changed in place, so that emit() needs no copy while a listener
  // adds or removes listeners.
  on<K extends HubEventName>(owner: string, event: K, fn: Listener<K>): void {
    const list = this.#listeners.get(event) ?? [];
    this.#listeners.set(event, [...list, { owner, fn: fn as Listener<HubEventName> }]);
  }

  emit<K extends HubEventName>(event: K, payload: HubEvents[K]): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    for (const { owner, fn } of list) {
      try {
        fn(payload);
      } catch (err) {
        this.#onListenerError(err, event, owner);
      }
    }
  }

  removeOwner(owner: string): void {
    for (const [event, list] of this.#listeners) {
      const kept = list.filter((l) => l.owner !== owner);
      if (kept.length === 0) this.#listeners.delete(event);
      else this.#listeners.set(event, kept);
    }
  }

  listenerCount(event: HubEventName): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}
