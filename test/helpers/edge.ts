/** An edge agent's configuration document as the tests write it: file driver, quick reconnects. */
import { join } from 'node:path';

export interface EdgeLogin {
  port: number;
  username: string;
  password: string;
  topic: string;
}

/** The YAML/JSON document for an agent with 2 channels writing its relays to `dir`. */
export function edgeConfigDoc(dir: string, login: EdgeLogin) {
  return {
    mqtt: {
      host: '127.0.0.1',
      port: login.port,
      username: login.username,
      password: login.password,
      topic: login.topic,
      reconnect: { initialMs: 50, maxMs: 200 },
    },
    channels: 2,
    driver: { kind: 'file', path: join(dir, 'relays-out.json') },
    stateDir: join(dir, 'state'),
    site: { latitude: 21.32, longitude: 105.29, timezone: '+07:00' },
    telePeriodSec: 0,
  };
}
