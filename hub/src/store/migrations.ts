/** Numbered migrations, applied in order at start. Never edit one that has shipped: add the next. */
export const migrations: Array<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'users, devices, lights, events, settings',
    sql: `
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('resident', 'head', 'technician', 'admin')),
        password_hash TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        zones TEXT NOT NULL DEFAULT '[]',
        token_version INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
      );
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'tasmota',
        channels INTEGER NOT NULL CHECK (channels BETWEEN 1 AND 32),
        secret_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT
      );
      CREATE TABLE lights (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        channel INTEGER NOT NULL,
        name TEXT NOT NULL,
        zone TEXT NOT NULL,
        desired TEXT CHECK (desired IN ('on', 'off')),
        desired_by TEXT,
        desired_at TEXT,
        reported TEXT CHECK (reported IN ('on', 'off')),
        reported_at TEXT,
        UNIQUE (device_id, channel)
      );
      CREATE INDEX lights_zone ON lights(zone);
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        actor TEXT,
        target TEXT,
        message TEXT NOT NULL,
        data TEXT
      );
      CREATE INDEX events_at ON events(at);
      CREATE INDEX events_type ON events(type, id);
      CREATE INDEX events_target ON events(target, id);
    `,
  },
  {
    version: 2,
    name: 'cameras and recorded segments',
    sql: `
      CREATE TABLE cameras (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('onvif', 'rtsp')),
        -- ONVIF device service address (host[:port]); NULL for a plain RTSP camera
        onvif_address TEXT,
        -- The camera's own login: needed to reach it, so kept; never in logs or API answers.
        username TEXT,
        password TEXT,
        main_uri TEXT NOT NULL,
        sub_uri TEXT,
        snapshot_uri TEXT,
        info TEXT NOT NULL DEFAULT '{}',
        retention_days INTEGER,
        created_at TEXT NOT NULL
      );
      CREATE TABLE segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        path TEXT NOT NULL UNIQUE,
        -- 0 while ffmpeg still writes it (its end is "now")
        complete INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX segments_camera_start ON segments(camera_id, start);
      CREATE INDEX segments_start ON segments(start);
    `,
  },
  {
    version: 3,
    name: 'invitations',
    sql: `
      CREATE TABLE invites (
        id TEXT PRIMARY KEY,
        -- SHA-256 of the code (hex): the code itself is shown once and never stored.
        code_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('resident', 'head', 'technician', 'admin')),
        household TEXT NOT NULL,
        zones TEXT NOT NULL DEFAULT '[]',
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        used_by TEXT,
        revoked_at TEXT,
        revoked_by TEXT
      );
      CREATE INDEX invites_created ON invites(created_at);
    `,
  },
  {
    version: 4,
    name: 'lighting programs, calendar, overrides, light stats, device fallback',
    sql: `
      CREATE TABLE schedule_programs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        rules TEXT NOT NULL,
        night_cut TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE schedule_calendar (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        program TEXT NOT NULL REFERENCES schedule_programs(id),
        dates TEXT,
        range_from TEXT,
        range_to TEXT,
        weekdays TEXT,
        zones TEXT NOT NULL DEFAULT '[]',
        lights TEXT NOT NULL DEFAULT '[]'
      );
      -- target: '*' (every light), 'zone:<zone>' or 'light:<id>'
      CREATE TABLE schedule_defaults (
        target TEXT PRIMARY KEY,
        program TEXT NOT NULL REFERENCES schedule_programs(id)
      );
      CREATE TABLE schedule_overrides (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        zone TEXT,
        light TEXT,
        state TEXT NOT NULL CHECK (state IN ('on', 'off')),
        until TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('override', 'manual')),
        by_actor TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
      );
      CREATE TABLE light_stats (
        light_id TEXT PRIMARY KEY REFERENCES lights(id) ON DELETE CASCADE,
        switches INTEGER NOT NULL DEFAULT 0,
        burn_ms INTEGER NOT NULL DEFAULT 0,
        -- set while the light is reported on
        on_since TEXT,
        last_switch TEXT
      );
      -- What the hub last pushed as a device's fallback program (a hash), and the device's kind.
      CREATE TABLE device_fallback (
        device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        hash TEXT,
        pushed_at TEXT
      );
    `,
  },
];
