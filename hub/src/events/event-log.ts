import type { Actor, EventBus, HubEventName, HubEvents } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { EventQuery, EventRecord, EventsRepo, NewEvent } from '../store/events-repo.js';

export const actorName = (a: Actor) => `${a.kind}:${a.name}`;

/**
 * The event log: who switched what, when and why; devices coming and going; alarms; logins.
 * Writes are batched into one transaction per turn of the event loop, so that one command to
 * 1000 lights costs one commit, not 1000.
 */
export class EventLog implements HubModule {
  readonly name = 'event-log';
  #bus: EventBus;
  #repo: EventsRepo;
  #log: Logger;
  #queue: NewEvent[] = [];
  #flushScheduled: NodeJS.Immediate | undefined;

  constructor(deps: { bus: EventBus; repo: EventsRepo; log: Logger }) {
    this.#bus = deps.bus;
    this.#repo = deps.repo;
    this.#log = deps.log;
  }

  start(): void {
    const on = <K extends HubEventName>(event: K, fn: (payload: HubEvents[K]) => void) =>
      this.#bus.on(this.name, event, fn);
    on('lightCommanded', (e) =>
      this.record({
        type: 'light.switched',
        actor: actorName(e.actor),
        target: e.lightId,
        message: `${actorName(e.actor)} switched ${e.lightId}: ${e.from ?? 'unknown'} → ${e.to}`,
        data: { from: e.from, to: e.to },
      }),
    );
    on('deviceOnline', (e) =>
      this.record({
        type: 'device.online',
        actor: null,
        target: e.deviceId,
        message: `${e.deviceId} online`,
      }),
    );
    on('deviceOffline', (e) =>
      this.record({
        type: 'device.offline',
        actor: null,
        target: e.deviceId,
        message: `${e.deviceId} offline`,
        data: { reason: e.reason },
      }),
    );
    on('alarm', (e) =>
      this.record({
        type: `alarm.${e.kind}`,
        actor: null,
        target: e.lightId ?? e.deviceId ?? null,
        message: e.message,
        data: { ...e.data, ...(e.deviceId ? { deviceId: e.deviceId } : {}) },
      }),
    );
    on('userLogin', (e) =>
      this.record({
        type: e.ok ? 'user.login' : 'user.login_failed',
        actor: `user:${e.username}`,
        target: null,
        message: e.ok
          ? `${e.username} logged in`
          : `login refused for ${e.username}: ${e.reason ?? ''}`.trim(),
        data: { address: e.address },
      }),
    );
    on('recordingGap', (e) =>
      this.record(
        e.end === null
          ? {
              type: 'camera.recording_stopped',
              actor: null,
              target: e.cameraId,
              message: `${e.cameraId} stopped recording: ${e.reason}`,
              data: { start: e.start, reason: e.reason },
            }
          : {
              type: 'camera.gap',
              actor: null,
              target: e.cameraId,
              message: `${e.cameraId} not recorded from ${e.start} to ${e.end}`,
              data: { start: e.start, end: e.end },
            },
      ),
    );
    on('audit', (e) =>
      this.record({
        type: e.action,
        actor: actorName(e.actor),
        target: e.target ?? null,
        message: `${actorName(e.actor)}: ${e.action}${e.target ? ` ${e.target}` : ''}`,
        data: e.data,
      }),
    );
  }

  stop(): void {
    this.#bus.removeOwner(this.name);
    if (this.#flushScheduled) clearImmediate(this.#flushScheduled);
    this.flush();
  }

  record(
    event: Omit<NewEvent, 'at' | 'data'> & { at?: string; data?: Record<string, unknown> | null },
  ): void {
    this.#queue.push({ ...event, at: event.at ?? new Date().toISOString(), data: event.data ?? null });
    this.#flushScheduled ??= setImmediate(() => this.flush());
  }

  flush(): void {
    this.#flushScheduled = undefined;
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    try {
      this.#repo.insertMany(batch);
    } catch (err) {
      this.#log.error({ err, count: batch.length }, 'could not write events');
    }
  }

  query(q: EventQuery): EventRecord[] {
    this.flush();
    return this.#repo.query(q);
  }
}
