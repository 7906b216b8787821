/**
 * Waiting in tests: for an event or for a condition, always with a timeout whose error says
 * what was awaited. Use these instead of bare sleeps.
 */

/** Anything with `on`/`off`, typed or not (EventEmitter, mqtt.js clients, aedes). */
export interface Listenable {
  // biome-ignore lint/suspicious/noExplicitAny: listeners of any event signature
  on(event: any, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: listeners of any event signature
  off(event: any, listener: (...args: any[]) => void): unknown;
}

export interface WaitForEventOptions<Args extends unknown[]> {
  /** Default 2000 ms. */
  timeoutMs?: number;
  /** Resolve only on an emission whose arguments pass this test. */
  filter?: (...args: Args) => boolean;
  /** Reject when the emitter emits `error` meanwhile (default true, like `events.once`). */
  rejectOnError?: boolean;
}

const DEFAULT_TIMEOUT_MS = 2000;

/**
 * Resolves with the arguments of the next `event` (that passes `filter`), or rejects after
 * `timeoutMs` with an error naming the event.
 */
export function waitForEvent<Args extends unknown[] = unknown[]>(
  emitter: Listenable,
  event: string | symbol,
  options: WaitForEventOptions<Args> = {},
): Promise<Args> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, filter, rejectOnError = true } = options;
  return new Promise<Args>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (rejectOnError && event !== 'error') emitter.off('error', onError);
    };
    const onEvent = (...args: unknown[]) => {
      if (filter && !filter(...(args as Args))) return;
      cleanup();
      resolve(args as Args);
    };
    const onError = (err: unknown) => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event '${String(event)}'`));
    }, timeoutMs);
    emitter.on(event, onEvent);
    if (rejectOnError && event !== 'error') emitter.on('error', onError);
  });
}

/** `events.once` with a timeout. */
export function onceWithTimeout<Args extends unknown[] = unknown[]>(
  emitter: Listenable,
  event: string | symbol,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Args> {
  return waitForEvent<Args>(emitter, event, { timeoutMs });
}

export interface WaitForOptions {
  /** Default 2000 ms. */
  timeoutMs?: number;
  /** How often the predicate is checked; default 5 ms. */
  intervalMs?: number;
  /** Said in the timeout error: what was awaited. */
  message?: string;
}

/** Resolves once `predicate` returns true (it may be async), or rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = 5, message = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
