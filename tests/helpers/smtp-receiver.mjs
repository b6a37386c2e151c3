// A real SMTP server process for the tests (smtp-server): stores each received message as
// DIR/N.eml with DIR/N.json ({from, to, user}); prints "listening PORT" when ready.
// argv: DIR PORT [--tls-key K --tls-cert C] [--auth USER:PASS]
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

const [dir, port, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const key = opt('--tls-key');
const cert = opt('--tls-cert');
const auth = opt('--auth');
mkdirSync(dir, { recursive: true });
let n = 0;
const server = new SMTPServer({
  ...(key && cert
    ? { key: readFileSync(key), cert: readFileSync(cert) }
    : { disabledCommands: ['STARTTLS'] }),
  authOptional: !auth,
  ...(auth ? { authMethods: ['PLAIN', 'LOGIN'] } : {}),
  onAuth(a, session, cb) {
    const [u, p] = auth.split(':');
    if (a.username === u && a.password === p) cb(null, { user: u });
    else cb(new Error('Invalid username or password'));
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      n += 1;
      writeFileSync(join(dir, `${n}.eml`), Buffer.concat(chunks));
      writeFileSync(
        join(dir, `${n}.json`),
        JSON.stringify({
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user ?? null,
          secure: session.secure,
        }),
      );
      cb();
    });
  },
  logger: false,
});
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
