import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarPack, tarUnpack } from '../../hub/src/backup/tar.js';
import { usernameFromHousehold } from '../../hub/src/invites/invites-service.js';
import { tasmotaBacklog } from '../../scripts/khu/commands/relay.js';
import { table } from '../../scripts/khu/format.js';

describe('the backup tar', () => {
  it('round-trips, and GNU tar reads what we write', () => {
    const files = [
      { name: 'khu-backup.json', data: Buffer.from('{"a":1}\n') },
      { name: 'config/effective.json', data: Buffer.alloc(1500, 7) },
      { name: 'empty', data: Buffer.alloc(0) },
    ];
    const archive = tarPack(files);
    expect(archive.length % 512).toBe(0);
    const back = tarUnpack(archive);
    expect([...back.keys()]).toEqual(files.map((f) => f.name));
    expect(back.get('config/effective.json')).toEqual(files[1]!.data);
    const dir = mkdtempSync(join(tmpdir(), 'khu-tar-'));
    try {
      writeFileSync(join(dir, 'a.tar'), archive);
      expect(
        execFileSync('tar', ['tf', join(dir, 'a.tar')], { encoding: 'utf8' })
          .trim()
          .split('\n'),
      ).toEqual(files.map((f) => f.name));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses damaged, cut and unsafe archives', () => {
    const good = tarPack([{ name: 'khu.db', data: Buffer.alloc(700, 1) }]);
    const flipped = Buffer.from(good);
    flipped[10] = 0x41;
    expect(() => tarUnpack(flipped)).toThrow(/checksum/);
    expect(() => tarUnpack(good.subarray(0, 1024))).toThrow(/cut short/);
    expect(() => tarUnpack(tarPack([{ name: '../etc/passwd', data: Buffer.from('x') }]))).toThrow(/unsafe/);
    expect(() => tarPack([{ name: 'x'.repeat(101), data: Buffer.alloc(0) }])).toThrow(/1–100 bytes/);
  });
});

describe('login names from household names', () => {
  it('drops diacritics and the words that say nothing', () => {
    expect(usernameFromHousehold('Nhà ông Ba, xóm 2')).toBe('ong-ba-xom-2');
    expect(usernameFromHousehold('Gia đình Đặng Văn Lâm')).toBe('dang-van-lam');
    expect(usernameFromHousehold('Hộ bà Tư')).toBe('ba-tu');
    expect(usernameFromHousehold('Nhà')).toBe('nha');
    expect(usernameFromHousehold('!!!')).toBe('cudan');
    expect(usernameFromHousehold('Nhà ông Nguyễn Văn Thành Trung, xóm Đình')).toMatch(
      /^[a-z0-9][a-z0-9-]{1,23}$/,
    );
  });
});

describe('the CLI’s output', () => {
  it('writes the Tasmota console line exactly', () => {
    expect(
      tasmotaBacklog({ host: '192.0.2.10', port: 1883, username: 'hv01', password: 'p4ss', topic: 'hv01' }),
    ).toBe(
      'Backlog MqttHost 192.0.2.10; MqttPort 1883; MqttUser hv01; MqttPassword p4ss; Topic hv01; FullTopic %prefix%/%topic%/',
    );
  });

  it('aligns tables with Vietnamese text', () => {
    expect(
      table(
        ['A', 'B'],
        [
          ['Ngõ Chùa', 1],
          ['x', null],
        ],
      ),
    ).toBe('A         B\nNgõ Chùa  1\nx         -');
    expect(table(['A'], [])).toBe('A\n(none)');
  });
});
