import { describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/src/core/event-bus.js';

describe('EventBus', () => {
  it('delivers to every listener, and one that throws does not stop the others', () => {
    const errors: string[] = [];
    const bus = new EventBus((err, event, owner) =>
      errors.push(`${owner}/${event}: ${(err as Error).message}`),
    );
    const seen: string[] = [];
    bus.on('a', 'deviceOnline', () => {
      throw new Error('boom');
    });
    bus.on('b', 'deviceOnline', ({ deviceId }) => seen.push(deviceId));
    bus.emit('deviceOnline', { deviceId: 'r1' });
    expect(seen).toEqual(['r1']);
    expect(errors).toEqual(['a/deviceOnline: boom']);
  });

  it('removes every listener of an owner at once, and only those', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.on('lights', 'deviceOnline', () => seen.push('lights-online'));
    bus.on('lights', 'deviceOffline', () => seen.push('lights-offline'));
    bus.on('events', 'deviceOnline', () => seen.push('events-online'));
    bus.removeOwner('lights');
    bus.emit('deviceOnline', { deviceId: 'r1' });
    bus.emit('deviceOffline', { deviceId: 'r1', reason: 'lwt' });
    expect(seen).toEqual(['events-online']);
    expect(bus.listenerCount('deviceOffline')).toBe(0);
  });

  it('lets a listener remove its owner while the event is being delivered', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.on('once', 'deviceOnline', () => {
      seen.push('once');
      bus.removeOwner('once');
    });
    bus.on('always', 'deviceOnline', () => seen.push('always'));
    bus.emit('deviceOnline', { deviceId: 'r1' });
    bus.emit('deviceOnline', { deviceId: 'r1' });
    expect(seen).toEqual(['once', 'always', 'always']);
  });
});
