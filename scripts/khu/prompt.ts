import { CliError, EXIT } from './errors.js';

/** The first line of standard input (a password piped in by a script). */
async function readLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/**
 * Ask for a secret without echoing it. On a terminal the characters are not shown; otherwise the
 * first line of standard input is taken (so `printf '%s\n' "$PW" | khu …` works in scripts).
 */
export async function promptSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const line = await readLine(stdin);
    if (!line)
      throw new CliError(`${question.replace(/:\s*$/, '')}: nothing on standard input`, {
        exitCode: EXIT.usage,
      });
    return line;
  }
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('cancelled', { exitCode: EXIT.failed }));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Ask for a plain answer (echoed). */
export async function promptLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) return (await readLine(process.stdin)).trim();
  process.stderr.write(question);
  return (await readLine(process.stdin)).trim();
}
