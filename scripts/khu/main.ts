#!/usr/bin/env node
/**
 * `khu`: the technician's command line. It talks only to the hub's HTTP API (restore apart,
 * which works offline on a stopped hub's data dir). Docs: docs/cli.md.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Command, type Ctx, GLOBAL_HELP, GLOBAL_OPTIONS, str } from './command.js';
import { backup, restore } from './commands/backup.js';
import { cameraAdd, cameraList, cameraRm, cameraSnapshot, discover } from './commands/camera.js';
import { relayAdd, relayList, relayPasswd, relayRm, relayTest } from './commands/relay.js';
import { checkHubUrl, login, logout, status } from './commands/session.js';
import { userInvite, userInvites, userList, userRevoke, userRm } from './commands/user.js';
import { CliError, EXIT } from './errors.js';
import { makeOut } from './format.js';
import { HubClient } from './hub-client.js';
import { DEFAULT_HUB, loadSaved } from './settings.js';

const COMMANDS: Command[] = [
  login,
  logout,
  status,
  relayAdd,
  relayTest,
  relayList,
  relayPasswd,
  relayRm,
  discover,
  cameraAdd,
  cameraList,
  cameraSnapshot,
  cameraRm,
  userInvite,
  userInvites,
  userRevoke,
  userList,
  userRm,
  backup,
  restore,
];
const GROUPS: Record<string, string> = {
  relay: 'street-light relays (rơ-le đèn đường)',
  camera: 'cameras',
  user: 'accounts and invitations (tài khoản, lời mời)',
};

function version(): string {
  for (const up of ['../../..', '../..']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}/package.json`, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'khu' && pkg.version) return pkg.version;
    } catch {}
  }
  return '0.0.0';
}

function mainHelp(): string {
  const lines = COMMANDS.map((c) => `  khu ${c.name.padEnd(16)} ${c.summary}`);
  return `khu ${version()}: the Khu hub's technician tool (công cụ kỹ thuật viên)

Usage: khu <command> [arguments] [options]

Commands:
${lines.join('\n')}

${GLOBAL_HELP}
  --version     khu's version

Run khu <command> --help for each command's arguments and examples.
Start with: khu login --hub http://<box address>:8080 --user <technician>

Exit codes: 0 done, 1 refused or failed, 2 bad arguments, 3 hub unreachable,
4 not logged in / session expired / wrong password.
Settings: $XDG_CONFIG_HOME/khu/config.json (default ~/.config/khu/config.json).
Environment: KHU_HUB (hub address), KHU_PASSWORD (password for khu login).`;
}

function groupHelp(group: string): string {
  const lines = COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map(
    (c) => `  khu ${c.name.padEnd(16)} ${c.summary}`,
  );
  return `khu ${group}: ${GROUPS[group]}\n\nCommands:\n${lines.join('\n')}\n\nRun khu ${group} <command> --help for details.`;
}

function fail(err: unknown, json: boolean): number {
  const e =
    err instanceof CliError
      ? err
      : new CliError(err instanceof Error ? err.message : String(err), { exitCode: EXIT.failed });
  process.stderr.write(`khu: ${e.message}\n`);
  if (e.hint) process.stderr.write(`  → ${e.hint}\n`);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ error: { message: e.message, code: e.code ?? null, hint: e.hint ?? null, exitCode: e.exitCode } })}\n`,
    );
  return e.exitCode;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv.includes('--json');
  const [first, second] = argv;
  if (first === undefined) {
    process.stderr.write(`${mainHelp()}\n`);
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${mainHelp()}\n`);
    return EXIT.ok;
  }
  if (first === '--version') {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  let command: Command | undefined;
  let rest: string[];
  if (first in GROUPS) {
    if (second === undefined || second === '--help' || second === '-h') {
      (second ? process.stdout : process.stderr).write(`${groupHelp(first)}\n`);
      return second ? EXIT.ok : EXIT.usage;
    }
    command = COMMANDS.find((c) => c.name === `${first} ${second}`);
    if (!command)
      return fail(
        new CliError(`unknown command: khu ${first} ${second}`, {
          exitCode: EXIT.usage,
          hint: `see: khu ${first} --help`,
        }),
        json,
      );
    rest = argv.slice(2);
  } else {
    command = COMMANDS.find((c) => c.name === first);
    if (!command)
      return fail(
        new CliError(`unknown command: ${first}`, { exitCode: EXIT.usage, hint: 'see: khu --help' }),
        json,
      );
    rest = argv.slice(1);
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--zome'" or "Option '--zone <value>' argument missing".
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    return fail(
      new CliError(message, { exitCode: EXIT.usage, hint: `see: khu ${command.name} --help` }),
      json,
    );
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${command.help}\n\n${GLOBAL_HELP}\n`);
    return EXIT.ok;
  }
  const [min, max] = command.positionals ?? [0, 0];
  if (positionals.length < min || positionals.length > max) {
    const what = positionals.length < min ? 'missing argument' : `unexpected argument: ${positionals[max]}`;
    return fail(new CliError(what, { exitCode: EXIT.usage, hint: `see: khu ${command.name} --help` }), json);
  }
  const out = makeOut(Boolean(values.json));
  const ctx: Ctx = {
    values: values as Ctx['values'],
    positionals,
    out,
    env,
    client: () => {
      const saved = loadSaved(env);
      const flag = str(values.hub);
      const hub = checkHubUrl(flag ?? env.KHU_HUB ?? saved.hub ?? DEFAULT_HUB);
      // The saved token goes only to the hub it came from.
      return new HubClient(hub, hub === saved.hub ? saved.token : undefined);
    },
  };
  try {
    return (await command.run(ctx)) ?? EXIT.ok;
  } catch (err) {
    return fail(err, out.json);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = fail(err, false);
    },
  );
}
