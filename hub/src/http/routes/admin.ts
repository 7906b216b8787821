import { statfs } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { actorOf, requireRole, user } from '../auth.js';
import { responses } from '../schemas.js';

export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/admin/status',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['admin'],
        summary: 'Disk space where recordings go, and how long they are kept',
        response: responses({
          200: T.Object({
            recordings: T.Object({
              dir: T.String(),
              totalBytes: T.Integer(),
              freeBytes: T.Integer(),
              retentionDays: T.Integer(),
              minFreeMb: T.Integer(),
            }),
          }),
        }),
      },
    },
    async () => {
      const { recording } = app.services.config;
      const dir = app.services.cameras.recordingsDir;
      // The folder is made when the first camera records: until then, measure the data dir's disk.
      const fs = await statfs(dir).catch(() => statfs(app.services.config.dataDir));
      return {
        recordings: {
          dir,
          totalBytes: fs.blocks * fs.bsize,
          freeBytes: fs.bavail * fs.bsize,
          retentionDays: recording.retentionDays,
          minFreeMb: recording.minFreeMb,
        },
      };
    },
  );

  app.get(
    '/admin/backup',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['admin'],
        summary: 'A consistent backup of the running hub: database and configuration, as a tar',
        description:
          'Files: khu-backup.json (manifest), khu.db (SQLite online backup), config/effective.json (the settings ' +
          'in force), config/khu.yaml (the KHU_CONFIG file, when there is one). Recordings are not included. ' +
          'Restore offline with `khu restore <file> --data-dir <dir>` while the hub is stopped.',
        response: responses({
          200: T.Unsafe<Readable>({
            description: 'tar archive',
            content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } },
          }),
        }),
      },
    },
    async (req, reply) => {
      const { filename, stream } = await app.services.backup.create(actorOf(user(req)));
      return reply
        .header('content-type', 'application/x-tar')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .header('cache-control', 'no-store')
        .send(stream);
    },
  );
};
