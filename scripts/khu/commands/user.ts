import { writeFileSync } from 'node:fs';
import QRCode from 'qrcode';
import { type Command, str } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { localTime, table } from '../format.js';

interface Invite {
  id: string;
  role: string;
  household: string;
  zones: string[];
  status: string;
  createdBy: string;
  expiresAt: string;
  usedBy: string | null;
}
interface User {
  username: string;
  role: string;
  displayName: string;
  zones: string[];
}

const ROLES = ['resident', 'head', 'technician', 'admin'];

export const userInvite: Command = {
  name: 'user invite',
  summary: 'invite a household: a QR code to scan (mời cư dân)',
  help: `Usage: khu user invite --household NAME [--role ROLE] [--zones A,B] [--ttl HOURS] [--png FILE] [--no-qr]

Creates an invitation and prints its link and QR code. The resident scans it, chooses a
password or a 6-digit PIN, and is logged in. Each invitation makes one account, once.

Options:
  --household NAME  who it is for, e.g. "Nhà ông Ba, xóm 2" (also the account's display name)
  --role ROLE       resident (default); an admin may also invite head, technician, admin
  --zones A,B       the streets whose lights the account may switch (default: all)
  --ttl HOURS       valid for this long (default 72, at most 720)
  --png FILE        also save the QR code as a PNG, to print
  --no-qr           no QR code in the terminal`,
  options: {
    household: { type: 'string' },
    role: { type: 'string' },
    zones: { type: 'string' },
    ttl: { type: 'string' },
    png: { type: 'string' },
    'no-qr': { type: 'boolean' },
  },
  positionals: [0, 0],
  async run(ctx) {
    const household = str(ctx.values.household)?.trim();
    if (!household) throw usageError('--household is required', 'user invite');
    const role = str(ctx.values.role) ?? 'resident';
    if (!ROLES.includes(role)) throw usageError(`--role: one of ${ROLES.join(', ')}`, 'user invite');
    const body: Record<string, unknown> = { role, household };
    const zones = str(ctx.values.zones);
    if (zones !== undefined) {
      const list = zones.split(',').map((z) => z.trim());
      if (list.some((z) => !z))
        throw usageError('--zones: names separated by commas, e.g. "Ngõ Chùa,Xóm Đình"', 'user invite');
      body.zones = list;
    }
    const ttl = str(ctx.values.ttl);
    if (ttl !== undefined) {
      if (!/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 720)
        throw usageError('--ttl: hours from 1 to 720', 'user invite');
      body.ttlHours = Number(ttl);
    }
    const hub = ctx.client();
    const invite = await hub.json<Invite & { code: string; url: string }>('POST', '/api/invites', { body });
    const png = str(ctx.values.png);
    if (png !== undefined) {
      const res = await hub.raw('GET', `/api/invites/${invite.id}/qr.png`);
      try {
        writeFileSync(png, Buffer.from(await res.arrayBuffer()));
      } catch (err) {
        throw new CliError(
          `the invitation was made, but ${png} could not be written: ${(err as Error).message}`,
          {
            hint: `the link still works: ${invite.url}`,
          },
        );
      }
    }
    if (ctx.out.json) {
      ctx.out.data({ ...invite, ...(png !== undefined ? { png } : {}) });
      return EXIT.ok;
    }
    ctx.out.print(
      `Invitation for ${invite.household} (${invite.role}), valid until ${localTime(invite.expiresAt)}:`,
    );
    ctx.out.print();
    ctx.out.print(`  ${invite.url}`);
    if (!ctx.values['no-qr']) {
      ctx.out.print();
      ctx.out.print(await QRCode.toString(invite.url, { type: 'terminal', small: true }));
    }
    if (png !== undefined) ctx.out.print(`QR code saved to ${png}.`);
    ctx.out.print('Quét mã QR bằng điện thoại để tạo tài khoản / scan with the phone to create the account.');
    return EXIT.ok;
  },
};

export const userInvites: Command = {
  name: 'user invites',
  summary: 'invitations and their status',
  help: `Usage: khu user invites

Every invitation, newest first: pending, used (by which account), expired or revoked.
Revoke a pending one with: khu user revoke <id>`,
  positionals: [0, 0],
  async run(ctx) {
    const invites = await ctx.client().json<Invite[]>('GET', '/api/invites');
    if (ctx.out.json) ctx.out.data(invites);
    else
      ctx.out.print(
        table(
          ['ID', 'HOUSEHOLD', 'ROLE', 'STATUS', 'EXPIRES', 'ACCOUNT'],
          invites.map((i) => [i.id, i.household, i.role, i.status, localTime(i.expiresAt), i.usedBy]),
        ),
      );
    return EXIT.ok;
  },
};

export const userRevoke: Command = {
  name: 'user revoke',
  summary: 'withdraw a pending invitation',
  help: `Usage: khu user revoke <invitation id>

The invitation's QR code and link stop working.`,
  positionals: [1, 1],
  async run(ctx) {
    const id = ctx.positionals[0]!;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
      throw usageError(`invitation id "${id}" is not valid (see khu user invites)`, 'user revoke');
    await ctx.client().json('DELETE', `/api/invites/${id}`);
    if (ctx.out.json) ctx.out.data({ revoked: id });
    else ctx.out.print(`Invitation ${id} revoked.`);
    return EXIT.ok;
  },
};

export const userList: Command = {
  name: 'user list',
  summary: 'accounts',
  help: `Usage: khu user list

Accounts with their role and zones (an area head sees residents; an admin sees everyone).`,
  positionals: [0, 0],
  async run(ctx) {
    const users = await ctx.client().json<User[]>('GET', '/api/users');
    if (ctx.out.json) ctx.out.data(users);
    else
      ctx.out.print(
        table(
          ['USERNAME', 'ROLE', 'NAME', 'ZONES'],
          users.map((u) => [
            u.username,
            u.role,
            u.displayName,
            u.zones.length ? u.zones.join(', ') : '(all)',
          ]),
        ),
      );
    return EXIT.ok;
  },
};

export const userRm: Command = {
  name: 'user rm',
  summary: 'remove an account',
  help: `Usage: khu user rm <username>

Removes the account; its sessions end at once.`,
  positionals: [1, 1],
  async run(ctx) {
    const name = ctx.positionals[0]!;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
      throw usageError(`username "${name}" is not valid`, 'user rm');
    await ctx.client().json('DELETE', `/api/users/${encodeURIComponent(name.toLowerCase())}`);
    if (ctx.out.json) ctx.out.data({ removed: name });
    else ctx.out.print(`Account ${name} removed.`);
    return EXIT.ok;
  },
};
