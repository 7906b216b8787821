import { type Command, str } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { bytes, localTime, table } from '../format.js';
import { HubClient } from '../hub-client.js';
import { promptLine, promptSecret } from '../prompt.js';
import { DEFAULT_HUB, forget, loadSaved, saveSaved } from '../settings.js';

interface LoginAnswer {
  token: string;
  expiresAt: string;
  user: { username: string; role: string; displayName: string };
}

export function checkHubUrl(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname)
    throw usageError(`--hub ${url}: an address such as http://198.51.100.10:8080`, 'login');
  return url.replace(/\/+$/, '');
}

export const login: Command = {
  name: 'login',
  summary: 'log in to a hub and keep the session (đăng nhập)',
  help: `Usage: khu login [--hub URL] [--user NAME]

Logs in and saves the hub's address and a session token in
$XDG_CONFIG_HOME/khu/config.json (default ~/.config/khu/config.json, mode 0600).
Later commands use them; run khu login again when the session expires.

Options:
  --hub URL     the hub, e.g. http://198.51.100.10:8080 (default: the saved one, KHU_HUB, http://127.0.0.1:8080)
  --user NAME   the account (default: the saved one; asked when there is none)

The password is asked without echo, or taken from KHU_PASSWORD, or from the first line
of standard input when it is not a terminal.

Example:
  khu login --hub http://198.51.100.10:8080 --user kythuat`,
  options: { user: { type: 'string', short: 'u' } },
  positionals: [0, 0],
  async run({ values, out, env }) {
    const saved = loadSaved(env);
    const hub = checkHubUrl(str(values.hub) ?? env.KHU_HUB ?? saved.hub ?? DEFAULT_HUB);
    let username =
      str(values.user) ?? (str(values.hub) && str(values.hub) !== saved.hub ? undefined : saved.username);
    if (!username) {
      if (!process.stdin.isTTY) throw usageError('--user is required', 'login');
      username = await promptLine('Username (tên đăng nhập): ');
    }
    if (!username) throw usageError('--user is required', 'login');
    const password = env.KHU_PASSWORD || (await promptSecret(`Password for ${username} (mật khẩu): `));
    const client = new HubClient(hub);
    let answer: LoginAnswer;
    try {
      answer = await client.json<LoginAnswer>('POST', '/api/auth/login', {
        auth: false,
        body: { username, password },
      });
    } catch (err) {
      if (err instanceof CliError && err.code === 'KHU_UNAUTHORIZED')
        throw new CliError('wrong username or password', {
          exitCode: EXIT.auth,
          hint: 'check both and try again (after 5 wrong tries the hub waits a few minutes)',
        });
      throw err;
    }
    const file = saveSaved(
      { hub, username: answer.user.username, token: answer.token, expiresAt: answer.expiresAt },
      env,
    );
    if (out.json) out.data({ hub, user: answer.user, expiresAt: answer.expiresAt, config: file });
    else
      out.print(
        `Logged in to ${hub} as ${answer.user.username} (${answer.user.role}); session saved in ${file}, valid until ${localTime(answer.expiresAt)}.`,
      );
    return EXIT.ok;
  },
};

export const logout: Command = {
  name: 'logout',
  summary: 'forget the saved session',
  help: `Usage: khu logout

Removes the saved session token (the hub address and username stay for the next khu login).`,
  positionals: [0, 0],
  run({ out, env }) {
    forget(env);
    if (out.json) out.data({ loggedOut: true });
    else out.print('Logged out.');
    return EXIT.ok;
  },
};

interface Health {
  version: string;
  time: string;
  uptimeSec: number;
  site: string;
  mqtt: { port: number; devicesOnline: number };
}
interface Device {
  id: string;
  name: string;
  channels: number;
  online: boolean;
  lastSeen: string | null;
  lights: string[];
}
interface Camera {
  id: string;
  name: string;
  status: string;
  lastSegmentAt: string | null;
  onvifAddress: string | null;
}
interface Event {
  at: string;
  type: string;
  message: string;
}
interface DiskStatus {
  recordings: {
    dir: string;
    totalBytes: number;
    freeBytes: number;
    retentionDays: number;
    minFreeMb: number;
  };
}

export const status: Command = {
  name: 'status',
  summary: 'devices, cameras, disk and recent alarms (tình trạng)',
  help: `Usage: khu status [--alarms N]

Shows the hub (version, uptime), every relay (online or not, last seen), every camera
(recording or not, last segment), the recordings disk and retention, and the latest alarms.
Needs a technician account.

Options:
  --alarms N    how many recent alarms to show (default 10)`,
  options: { alarms: { type: 'string' } },
  positionals: [0, 0],
  async run({ values, out, client }) {
    const hub = client();
    const limit = Number(str(values.alarms) ?? '10');
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw usageError('--alarms: a number from 1 to 500', 'status');
    const health = await hub.json<Health>('GET', '/api/health', { auth: false });
    const [devices, cameras, alarms, disk] = await Promise.all([
      hub.json<Device[]>('GET', '/api/devices'),
      hub.json<Camera[]>('GET', '/api/cameras'),
      hub.json<{ events: Event[] }>('GET', `/api/events?type=alarm.*&limit=${limit}`),
      hub.json<DiskStatus>('GET', '/api/admin/status'),
    ]);
    if (out.json) {
      out.data({
        hub: { url: hub.base, ...health },
        devices,
        cameras,
        disk: disk.recordings,
        alarms: alarms.events,
      });
      return EXIT.ok;
    }
    const online = devices.filter((d) => d.online).length;
    const recording = cameras.filter((c) => c.status === 'recording').length;
    const d = disk.recordings;
    out.print(
      `Hub ${hub.base}: ${health.site}, version ${health.version}, up ${Math.floor(health.uptimeSec / 60)} min`,
    );
    out.print(
      `Relays: ${online} of ${devices.length} online. Cameras: ${recording} of ${cameras.length} recording.`,
    );
    out.print(
      `Recordings: ${d.dir}, ${bytes(d.freeBytes)} free of ${bytes(d.totalBytes)}; kept ${d.retentionDays} days (oldest go first under ${d.minFreeMb} MB free).`,
    );
    out.print();
    out.print(
      table(
        ['RELAY', 'NAME', 'CH', 'ONLINE', 'LAST SEEN'],
        devices.map((x) => [x.id, x.name, x.channels, x.online ? 'yes' : 'NO', localTime(x.lastSeen)]),
      ),
    );
    out.print();
    out.print(
      table(
        ['CAMERA', 'NAME', 'STATUS', 'LAST SEGMENT'],
        cameras.map((c) => [c.id, c.name, c.status, localTime(c.lastSegmentAt)]),
      ),
    );
    out.print();
    out.print(
      table(
        ['ALARM AT', 'TYPE', 'MESSAGE'],
        alarms.events.map((e) => [localTime(e.at), e.type.replace(/^alarm\./, ''), e.message]),
      ),
    );
    return EXIT.ok;
  },
};
